"""A number the text quotes is one a cell prints.

For every committed notebook, each number written in a markdown cell (41.5%, 0.83, 1,376,
331 s, 2.1x, 3.2e15 ...) must appear in the same notebook's code cells: in a text output (what a
cell printed or displayed) or in a code cell's source (a number the code sets counts). Formats
are normalised: "1,376" is 1376, "120_000" is 120000, "41.5%" matches 41.5 or a printed fraction
0.415 (or 0.4153: the text may round what a cell printed, never the other way round), "17K"
matches 17,000 and "3.2e15" matches 3.21e+15.

Not checked: code (fenced blocks and `spans`), links and URLs, HTML tags, section numbers in
headings and list enumerators, exercise and chapter references (Exercise 2.3, chapter 1,
2.1–2.4), years (1900–2100 standing alone) and dates, arXiv ids, model sizes (0.5B, 32B), names
with a digit in them (R1, o1, GPT-4, H100, pass@1), and the figures each notebook cites from a
paper or project, listed in CITED with the sentence they come from. A number that describes
one of this course's own runs is never in CITED: it must come from an output.

Offline and fast: reads the .ipynb files only, runs nothing.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "notebooks" / "solutions").glob("*.ipynb"))
# The four chapter notebooks, whose text reports their own runs. The exercises and solutions
# notebooks also state settings and checker limits in prose ("at most 12 digits", "about 6
# minutes"); they join this check once their text is rewritten from their outputs.
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-4]_*[a-z].ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if not p.stem.endswith("_exercises")]

# Figures quoted from papers and projects, per notebook: each entry is a phrase of the
# notebook's markdown (as quoted_text leaves it: code spans, links and model sizes taken out,
# whitespace collapsed), and every number inside that phrase is a citation, not something a cell
# could print. The same number elsewhere in the text is still checked. Only cited numbers
# belong here: a number describing one of this course's runs must come from an output.
LEE_2023 = [   # Lee et al. 2023, "Teaching Arithmetic to Small Transformers" (arXiv 2307.03381)
    "a 10.6M-parameter char-level nanoGPT on 3-digit addition",
    "plateaued around 90% even with 20K examples",
    "got near 100% with about 1K",
]
R1_PAPER_KL_AND_DATA = [   # DeepSeek-R1: R1-Zero's KL coefficient, R1's 600K reasoning samples
    "R1-Zero ran with a small KL coefficient (0.001)",
    "R1's \"600K reasoning\" set",
    "(DeepSeek used 16)",                  # R1-Zero's group size
]
CITED: dict[str, list[str]] = {
    "01_what_is_reasoning.ipynb": LEE_2023,
    "02_r1_pipeline.ipynb": [
        # DeepSeek-R1 (Nature, methods): R1-Zero's RL settings and its AIME 2024 curve
        "learning rate 3e-6, KL coefficient 0.001, temperature 1, 16 samples per question, "
        "32 questions per step, 10,400 steps",
        "AIME 2024 pass@1 went from 15.6% to 71.0% during RL",
        # PPO (Schulman et al. 2017) and DAPO's clip-higher
        "(PPO: both 0.2;",
        "to 0.28, \"clip-higher\"",
        # DeepSeek-R1: the SFT data (600K reasoning + 200K non-reasoning, 2 epochs on 800K)
        "~600K reasoning samples",
        "add ~200K non-reasoning samples",
        "(2 epochs on ~800K in the paper)",
        "on the same ~800K samples",
        "the paper's ~200K non-reasoning samples",
        # DeepSeek-R1: distilled Qwen-32B (72.6% AIME 2024) vs the same base with RL (47.0%)
        "reached 72.6% on AIME 2024",
        "(R1-Zero-style, over 10K steps) reached only 47.0%",
        # DeepSeek-R1's evaluation: pass@1 sampled at temperature 0.6, top-p 0.95
        "sampled at temperature 0.6 and top-p 0.95",
    ],
    "02_r1_pipeline_exercises.ipynb": R1_PAPER_KL_AND_DATA,
    "02_r1_pipeline_solutions.ipynb": R1_PAPER_KL_AND_DATA,
    "03_four_methods.ipynb": [
        # Kaplan et al. 2020: about 2 FLOPs per parameter per token forward
        "a forward pass costs about 2 FLOPs per parameter per token",
        # DeepSeek-V3's report: "$6M" for 2.788M H800 GPU-hours, 2.664M of them pretraining
        "(whose \"$6M\" is V3's whole training, 2.788M GPU-hours of which pretraining alone is 2.664M",
        # DeepSeek-R1: R1-Zero on AIME 2024, pass@1 and majority vote over 64 samples
        "(AIME 2024: 71.0% pass@1, 86.7% with a majority vote over 64 samples)",
        # s1 (Muennighoff et al. 2025): budget forcing's floor on AIME 2024
        "lifted accuracy from 50% to 57%",
        # DeepSeek-R1: distillation (800K samples, 72.6%) vs RL (10K steps, 47.0%) on Qwen-32B
        "distilled R1's 800K samples into it or ran large-scale RL on it (R1-Zero-style, over 10K steps)",
        "the distilled model scored 72.6%, the RL one 47.0%",
        "next to 10K steps of RL",
    ],
    "04_budget.ipynb": [
        # Sky-T1 (NovaSky 2025): 17K traces, under $450
        "on only 17K traces",
        "with 17K rejection-sampled traces",
        "Sky-T1 (< $450)",
        # DeepSeek-V3 (~$5.6M) and R1 on top of it (~$294K, R1's Nature paper); TinyZero (< $30)
        "(~$5.6M for its whole training)",
        "R1 on top of it (~$294K)",
        "TinyZero (< $30)",
    ],
}


# ------------------------------------------------------------------ what a number is

SCALE = {"K": 1e3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_NUMBER = (
    r"(?<![\w.@#^])(?<![A-Za-z]-)"                 # not the tail of a name: R1, v2, pass@1, GPT-4
    r"(?P<mantissa>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:_\d{3})*(?:\.\d+)?)"
    r"(?:(?P<exp>[eE][+-]?\d+)|\s?[x×·]\s?10\^?(?P<pow>[+-]?\d+))?"
    r"(?P<suffix>%|[KkMGT](?![A-Za-z0-9_]))?")
# In the text a number is not the head of a name (3B, 2nd, 4x4) but may carry a unit (331s);
# in what a cell prints any unit may follow it ("6.6t" for 6.6 tokens, "1.2GB", "3ms").
QUOTED = re.compile(_NUMBER + r"(?:(?=(?:s|ms|min|h|GB|MB)\b)|(?![A-Za-z0-9_]))")
SHOWN = re.compile(_NUMBER + r"(?![0-9_])")
MULTIPLIER = re.compile(r"(?<=\d)x\b")             # "1.8x" is the number 1.8
RATIO = re.compile(r"(?<![A-Za-z])x(?=\d)")         # ... and so is "x1.8" in an output


@dataclass(frozen=True)
class Number:
    text: str
    value: float            # mantissa as written (41.5 for "41.5%", 17 for "17K")
    decimals: int           # digits after the point in the mantissa
    scale: float            # what the mantissa is multiplied by (1e3 for K, 1e15 for e15)
    percent: bool

    @property
    def whole(self) -> float:
        return self.value * self.scale


def numbers(text: str, pattern: re.Pattern = QUOTED) -> list[Number]:
    return [n for n, _, _ in numbers_at(text, pattern)]


def numbers_at(text: str, pattern: re.Pattern = QUOTED) -> list[tuple[Number, int, int]]:
    """Every number in `text`, with its start and end."""
    text = MULTIPLIER.sub(" ", text)
    if pattern is SHOWN:
        text = RATIO.sub(" ", text)
    found = []
    for m in pattern.finditer(text):
        mantissa = m.group("mantissa").replace(",", "").replace("_", "")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        scale = 1.0
        if m.group("exp"):
            scale = 10.0 ** int(m.group("exp")[1:])
        elif m.group("pow"):
            scale = 10.0 ** int(m.group("pow"))
        suffix = m.group("suffix") or ""
        scale *= SCALE.get(suffix, 1.0)
        found.append((Number(m.group(0), float(mantissa), decimals, scale, suffix == "%"),
                      m.start(), m.end()))
    return found


# ------------------------------------------------------------------ what the text quotes

FENCED = re.compile(r"^```.*?^```", re.M | re.S)
SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\([^)]*\)")
URL = re.compile(r"https?://\S+|www\.\S+")
TAG = re.compile(r"<[^>\n]+>")
HEADING_NUMBER = re.compile(r"^(#+\s+)(?:(?:Exercise|Part|Step)\s+)?\d+(?:\.\d+)*[a-z]?[.:)]?(?=\s|$)",
                            re.M | re.I)
ENUMERATOR = re.compile(r"^(\s*)\d{1,2}[.)](?=\s)", re.M)
DATE = re.compile(r"\b(?:19|20)\d\d-\d\d(?:-\d\d)?\b")
ARXIV = re.compile(r"(?i)\barxiv[:\s]*\d{4}\.\d{4,5}(?:v\d+)?|\b\d{4}\.\d{5}\b")
MODEL_SIZE = re.compile(r"\b\d+(?:\.\d+)?\s?B\b")
REFERENCE = re.compile(
    r"(?i)\b(?:exercises?|chapters?|ch\.|sections?|§|parts?|stages?|figures?|tables?|cells?|steps?"
    r"|build it|experiments?)\s*\(?\s*\d+(?:\.\d+)*[a-z]?"
    r"(?:\s*(?:[-–—,]|and|or|to)\s*\d+(?:\.\d+)*[a-z]?)*")
SECTION_SIGN = re.compile(r"§\s*\d+(?:\.\d+)*")
# LaTeX powers of ten: "3.2 \times 10^{15}" is 3.2e15 and "10^{-4}" is 1e-4.
POWER = re.compile(r"(?:(\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|×|·)\s*)?10\^\{?([+\-−]?\d+)\}?")


def quoted_text(markdown: str) -> str:
    """The markdown with everything that is not a quoted number's context taken out."""
    markdown = FENCED.sub(" ", markdown).replace("*", "")
    markdown = POWER.sub(lambda m: f"{m.group(1) or 1}e{m.group(2).replace('−', '-')}", markdown)
    for pattern in (FENCED, SPAN, LINK, URL, TAG, DATE, ARXIV, MODEL_SIZE, SECTION_SIGN, REFERENCE):
        markdown = pattern.sub(" ", markdown)
    markdown = HEADING_NUMBER.sub(r"\1", markdown)
    return " ".join(ENUMERATOR.sub(r"\1", markdown).split())


def is_year(n: Number) -> bool:
    return (n.scale == 1 and not n.percent and n.decimals == 0 and "," not in n.text
            and 1900 <= n.value <= 2100)


def quoted_numbers_at(text: str) -> list[tuple[Number, int, int]]:
    """The numbers in `text` (already through quoted_text), years left out, with where each is."""
    return [(n, start, end) for n, start, end in numbers_at(text) if not is_year(n)]


# ------------------------------------------------------------------ what the cells print

def cell_text(cell: dict) -> str:
    """A code cell's source and every text output it holds (printed, returned or displayed)."""
    parts = ["".join(cell["source"])]
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]))
        for kind in ("text/plain", "text/markdown", "text/html", "text/latex"):
            if kind in out.get("data", {}):
                parts.append("".join(out["data"][kind]))
    return "\n".join(parts)


class Shown:
    """Every number a notebook's code cells hold, sorted three ways for quick look-ups: as
    written, as a percentage (a fraction printed as 0.415 is the 41.5% a text quotes) and as a
    fraction (a printed 41.5% is the 0.415 a text quotes)."""

    def __init__(self, nb: dict):
        shown = [n for cell in nb["cells"] if cell["cell_type"] == "code"
                 for n in numbers(cell_text(cell), SHOWN)]
        self.plain = sorted(n.whole for n in shown)
        self.as_percent = sorted(100 * n.whole for n in shown if not n.percent)
        self.as_fraction = sorted(n.whole / 100 for n in shown if n.percent)

    def has(self, quoted: Number) -> bool:
        """Some number shown rounds to `quoted` at the precision the text wrote it with."""
        half = (0.5 * 10.0 ** -quoted.decimals + 1e-9) * quoted.scale
        low, high = quoted.whole - half, quoted.whole + half
        pools = [self.plain, self.as_percent if quoted.percent else self.as_fraction]
        return any(bisect.bisect_right(pool, high) > bisect.bisect_left(pool, low) for pool in pools)


def cited_spans(text: str, cited: list[str]) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for phrase in cited for m in re.finditer(re.escape(phrase), text)]


def markdown_texts(nb: dict) -> list[str]:
    return [quoted_text("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown"]


def missing(nb: dict, cited: list[str]) -> list[tuple[str, str]]:
    """(number, where the text says it) for each number the notebook's markdown quotes that
    none of its code cells has, in order, each once; numbers inside a `cited` phrase are skipped."""
    shown = Shown(nb)
    result: dict[str, str] = {}
    for text in markdown_texts(nb):
        spans = cited_spans(text, cited)
        for n, start, end in quoted_numbers_at(text):
            if n.text in result or any(a <= start and end <= b for a, b in spans) or shown.has(n):
                continue
            result[n.text] = f"...{text[max(0, start - 60):end + 25]}..."
    return list(result.items())


# ------------------------------------------------------------------ the tests

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_the_text_quotes_is_one_a_cell_prints(path):
    nb = json.loads(path.read_text())
    gone = missing(nb, CITED.get(path.name, []))
    assert not gone, (
        f"{path.relative_to(ROOT)}: the markdown quotes {len(gone)} number(s) that no code cell "
        f"prints or sets (fix the text from the outputs; a figure cited from a paper goes in "
        f"CITED):\n" + "\n".join(f"  {number:>10}  {where}" for number, where in gone))


@pytest.mark.parametrize("name", sorted(CITED))
def test_every_cited_phrase_is_still_in_its_notebook(name):
    """A stale entry would let nothing through, but it would hide that the citation moved."""
    paths = [p for p in ALL_NOTEBOOKS if p.name == name]
    assert paths, f"CITED names {name}, which is not a notebook"
    text = "\n".join(markdown_texts(json.loads(paths[0].read_text())))
    gone = [phrase for phrase in CITED[name] if phrase not in text]
    assert not gone, f"{name}: CITED phrases no longer in the markdown: {gone}"


def test_what_counts_as_a_number():
    text = quoted_text("In `x = 0.25` see [chapter 2](02.ipynb) and https://a.b/3.14; R1 and o1, "
                       "GPT-4, pass@1, Qwen2.5-0.5B, a 32B model, arXiv 2501.12948, Wang et al. 2022, "
                       "on 2026-12-03: 41.5% of 1,376 in 331 s, 1.8x faster, ~$5.6M, 3.2 \\times "
                       "10^{15} FLOPs, lr 3e-6, from 2,000.")
    assert [n.text for n, _, _ in quoted_numbers_at(text)] == [
        "41.5%", "1,376", "331", "1.8", "5.6M", "3.2e15", "3e-6", "2,000"]
    assert quoted_text("## 3. Beam search\n1. first\n2. second 7") == "## Beam search first second 7"
    assert [n.text for n, _, _ in quoted_numbers_at(quoted_text(
        "Build it (2.1–2.4, 2.8–2.10); see Exercise 3.5 and chapter 1, section 2"))] == []


@pytest.mark.parametrize("quoted, cell, found", [
    ("1,376", "print(1376)", True),
    ("41.5%", "print('41.5%')", True),
    ("41.5%", "print(0.4153)", True),            # a fraction, rounded by the text
    ("41.5%", "print(0.42)", False),             # the text may not be more precise than the cell
    ("0.415", "print('41.5%')", True),
    ("331 s", "print('331.2 s')", True),
    ("17K", "N = 17_000", True),
    ("3.2e15", "print('3.21e+15')", True),
    ("6.6", "print(6.7)", False),
    ("12", "print('R12 v12 a12')", False),       # inside names, not numbers
    ("6.6", "print('r1   6.6t   14.7t')", True),  # a unit glued on in a table
    ("0.45", "print('tokens x0.45')", True),      # a ratio written x0.45
])
def test_matching(quoted, cell, found):
    nb = {"cells": [{"cell_type": "markdown", "source": [f"It is {quoted} here."]},
                    {"cell_type": "code", "source": [cell], "outputs": []}]}
    assert (missing(nb, []) == []) == found
