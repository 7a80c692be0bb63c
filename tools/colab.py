"""Colab links and setup cells, all written from one place: `[tool.course] repository` in
pyproject.toml.

    python tools/colab.py            # rewrite every badge and setup cell from that URL
    python tools/colab.py --check    # exit 1 (and say where) if any of them disagrees

Forked the course? Set `repository` to your fork's URL and run the first command: the README's
badges, each notebook's badge and each notebook's first cell then point at your fork.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\"\s]+?/blob/main/(notebooks/[\w./-]+\.ipynb)")
SETUP_MARKER = "# On Colab: get the course code first"

SETUP_CELL = '''# On Colab: get the course code first (elsewhere this cell does nothing). Safe to re-run.
import sys
if "google.colab" in sys.modules:
    import os, subprocess
    REPO_URL = "{url}"
    ROOT = "/content/{name}"   # an absolute path: a re-run finds the first clone
    INSTALLED = ROOT + "/.colab-installed"   # written only once the install succeeded
    if not os.path.exists(ROOT + "/.git"):
        subprocess.run(["rm", "-rf", ROOT], check=True)   # what a failed clone left
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, ROOT], check=True)
    if not os.path.exists(INSTALLED):   # a failed install is tried again on the next run
        # the package and its dependencies; Colab's own torch already satisfies torch>=2.2
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", ROOT], check=True)
        open(INSTALLED, "w").close()
    os.chdir(ROOT)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
'''


def repository() -> str:
    """`repository = "..."` under `[tool.course]` in pyproject.toml (read as text: no TOML
    parser is needed on Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[tool.course]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^repository\s*=\s*"([^"]+)"', section, re.M).group(1).rstrip("/")


def badge_url(repo: str, notebook: str) -> str:
    owner_name = repo.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_name}/blob/main/{notebook}"


def setup_cell(repo: str) -> str:
    return SETUP_CELL.format(url=repo, name=repo.rsplit("/", 1)[-1])


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").rglob("*.ipynb"))


def rewritten_text(text: str, repo: str) -> str:
    return BADGE.sub(lambda m: badge_url(repo, m.group(1)), text)


def rewritten_notebook(nb: dict, repo: str) -> dict:
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith(SETUP_MARKER):
            source = setup_cell(repo)
        else:
            source = rewritten_text(source, repo)
        cell["source"] = source.splitlines(keepends=True)
    return nb


def disagreements(repo: str | None = None) -> list[str]:
    """Every file whose badges or setup cell differ from what `repository` says."""
    repo = repo or repository()
    wrong = []
    readme = (ROOT / "README.md").read_text()
    if rewritten_text(readme, repo) != readme:
        wrong.append("README.md")
    for path in notebooks():
        nb = json.loads(path.read_text())
        before = json.dumps(nb["cells"])
        if json.dumps(rewritten_notebook(nb, repo)["cells"]) != before:
            wrong.append(str(path.relative_to(ROOT)))
    return wrong


def rewrite(repo: str | None = None) -> list[str]:
    repo = repo or repository()
    changed = disagreements(repo)
    readme = ROOT / "README.md"
    readme.write_text(rewritten_text(readme.read_text(), repo))
    for path in notebooks():
        nb = rewritten_notebook(json.loads(path.read_text()), repo)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


if __name__ == "__main__":
    if "--check" in sys.argv:
        wrong = disagreements()
        for path in wrong:
            print(f"{path}: badge or setup cell does not match {repository()}")
        sys.exit(1 if wrong else 0)
    print("rewrote:", ", ".join(rewrite()) or "nothing (all agree)")
