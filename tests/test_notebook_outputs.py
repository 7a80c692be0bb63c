"""What a reader sees in a committed notebook: no walls of output, no warnings, no stale cache.

A committed notebook is read on GitHub as it was executed, so its outputs are part of the text:
- no code cell prints more than 2,000 characters (a wall nobody reads);
- no output holds a warning (a FutureWarning, a UserWarning, text on stderr): either the code
  is fixed or the warning is silenced where it is understood;
- no output says a cached stage was retrained ("r1_sft: retraining — lr changed"): the
  notebooks are executed in order from an empty runs/ folder, so nothing cached is stale;
- table rows (lines with three or more column gaps) fit 110 columns.

Offline and fast: reads the .ipynb files only, runs nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "notebooks" / "solutions").glob("*.ipynb"))
MAX_CELL_CHARS = 2000
MAX_TABLE_WIDTH = 110
WARNING = re.compile(r"\b\w*Warning\b|\bwarnings\.warn\b")
RETRAINED = re.compile(r"\bretraining —")        # the cache's line; "pretraining" never matches
COLUMN_GAP = re.compile(r"\S {2,}(?=\S)")


def text_outputs(cell: dict) -> list[tuple[str, str]]:
    """(kind, text) of every text output of a code cell: 'stderr', 'stdout', 'result' or 'error'."""
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            out.append((o["name"], "".join(o["text"])))
        elif o["output_type"] in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "text/plain" in data and not any(k.startswith("image/") for k in data):
                out.append(("result", "".join(data["text/plain"])))
        elif o["output_type"] == "error":
            out.append(("error", "\n".join(o.get("traceback", []))))
    return out


def problems(nb: dict) -> list[str]:
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        outputs = text_outputs(cell)
        size = sum(len(text) for _, text in outputs)
        if size > MAX_CELL_CHARS:
            found.append(f"cell {i} prints {size:,} characters (at most {MAX_CELL_CHARS:,})")
        for kind, text in outputs:
            if kind == "stderr" and text.strip() and not _progress_only(text):
                found.append(f"cell {i} writes to stderr: {text.strip()[:120]!r}")
            if kind == "error":
                found.append(f"cell {i} ends in an error: {text[-160:]!r}")
            for line in text.splitlines():
                if WARNING.search(line):
                    found.append(f"cell {i} shows a warning: {line.strip()[:120]!r}")
                if RETRAINED.search(line):
                    found.append(f"cell {i} retrained a cached stage: {line.strip()[:120]!r}")
                if len(COLUMN_GAP.findall(line)) >= 3 and len(line) > MAX_TABLE_WIDTH:
                    found.append(f"cell {i} prints a table row {len(line)} columns wide: "
                                 f"{line[:60]!r}...")
    return found


def _progress_only(text: str) -> bool:
    """tqdm's bars go to stderr; tools/strip_progress.py removes them before a commit, so what
    remains on stderr is something else. A bar left over is a bar, not a warning."""
    return all("it/s]" in line or "s/it]" in line or "%|" in line
               for line in text.splitlines() if line.strip())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_committed_outputs_read_cleanly(path):
    assert problems(json.loads(path.read_text())) == []


def _cell(*outputs) -> dict:
    return {"cell_type": "code", "source": "", "outputs": list(outputs)}


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": [text]}


@pytest.mark.parametrize("outputs, flagged", [
    ([_stream("x" * 1500), _stream("y" * 600)], "characters"),
    ([_stream("a\n/site-packages/x.py:3: FutureWarning: soon\n", "stderr")], "stderr"),
    ([_stream("UserWarning: this is slow\n")], "warning"),
    ([_stream("r1_sft: retraining — lr changed (0.0003 -> 0.001)\n")], "retrained"),
    ([_stream("stage" + "  col" * 30 + "\n")], "table row"),
    ([{"output_type": "error", "traceback": ["ValueError: bad"]}], "error"),
])
def test_each_problem_is_caught(outputs, flagged):
    found = problems({"cells": [_cell(*outputs)]})
    assert len(found) >= 1 and flagged in found[0], found


@pytest.mark.parametrize("outputs", [
    [_stream("x" * 1999)],
    [_stream("trained now | 817,920 parameters | pretraining took 281 s\n")],
    [_stream("pretraining: 100%|##########| 3000/3000 [04:41<00:00, 10.6it/s]\n", "stderr")],
    [_stream("a short line  with  two gaps\n" + "prose " * 40 + "\n")],
    [{"output_type": "display_data", "data": {"image/png": "A" * 5000, "text/plain": ["<Figure>"]}}],
])
def test_clean_outputs_pass(outputs):
    assert problems({"cells": [_cell(*outputs)]}) == []
