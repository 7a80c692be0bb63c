"""Drop saved progress-bar widgets from executed notebooks: on GitHub a tqdm widget shows frozen
at 0%. The bars still show while a notebook runs. Usage: python tools/strip_progress.py NB..."""

import json
import sys


def is_progress_widget(output: dict) -> bool:
    data = output.get("data", {})
    return ("application/vnd.jupyter.widget-view+json" in data
            and "%|" in "".join(data.get("text/plain", "")))


def strip(path: str) -> int:
    nb = json.load(open(path, encoding="utf-8"))
    dropped = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            kept = [o for o in cell.get("outputs", []) if not is_progress_widget(o)]
            dropped += len(cell.get("outputs", [])) - len(kept)
            cell["outputs"] = kept
    nb.get("metadata", {}).pop("widgets", None)   # the saved widget state goes with them
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return dropped


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(f"{path}: dropped {strip(path)} progress widgets")
