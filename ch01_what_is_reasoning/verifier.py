"""The verifier: reads any completion and says whether it is well-formed and right.

It is a program checking an answer, as DeepSeek-R1's rule rewards are. It never evaluates
model text as code, never raises, and stays fast on megabytes of garbage: it only uses
str.find and a bounded digit check, no regular expressions that could backtrack.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from .arithmetic import ANSWER, END_ANSWER, END_THINK, LATIN_DIGITS, PERSIAN_DIGITS, THINK

_DIGIT_VALUE = {d: i for i, d in enumerate(LATIN_DIGITS)} | {d: i for i, d in enumerate(PERSIAN_DIGITS)}
MAX_ANSWER_DIGITS = 12  # longer "numbers" are not answers in this world


@dataclass(frozen=True)
class Verdict:
    well_formed: bool          # exactly <think>...</think><answer>...</answer>, nothing else
    has_answer: bool           # an <answer>...</answer> block holding a number
    answer: int | None         # that number (Latin or Persian digits), else None
    correct: bool              # has_answer and answer == expected
    thinking: str | None       # the text inside <think>...</think>, if any
    answer_script: str | None  # 'latin', 'persian' or 'mixed'


def parse_number(text: str) -> tuple[int | None, str | None]:
    """A non-negative integer written in Latin and/or Persian digits, else (None, None)."""
    text = text.strip()
    if not text or len(text) > MAX_ANSWER_DIGITS or any(c not in _DIGIT_VALUE for c in text):
        return None, None
    value = 0
    for c in text:
        value = value * 10 + _DIGIT_VALUE[c]
    latin = all(c in LATIN_DIGITS for c in text)
    persian = all(c in PERSIAN_DIGITS for c in text)
    return value, "latin" if latin else "persian" if persian else "mixed"


def _between(text: str, open_tag: str, close_tag: str, start: int = 0):
    """(inside, end) for the first open_tag...close_tag after `start`, else (None, -1)."""
    i = text.find(open_tag, start)
    if i < 0:
        return None, -1
    j = text.find(close_tag, i + len(open_tag))
    if j < 0:
        return None, -1
    return text[i + len(open_tag): j], j + len(close_tag)


def expected_value(expected) -> int | None:
    """The integer an expected answer stands for, or None when it stands for none.

    An int (numpy's too), a float with no fractional part (12.0), or a string of Latin and/or
    Persian digits ("12", "۱۲") is an integer. Anything else (None, True/False, 3.5, NaN,
    infinity, "seven", "-3") is not, and no completion can match it.
    """
    if isinstance(expected, bool):
        return None  # True == 1 in Python, but a bool is not an answer
    if isinstance(expected, numbers.Integral):
        return int(expected)
    if isinstance(expected, float):
        return int(expected) if expected.is_integer() else None  # False for NaN and infinity
    if isinstance(expected, str):
        # The same bounded parser as answers: no int(str) on a 5000-digit string (Python
        # refuses those), and a value too long to be an answer could never match one anyway.
        return parse_number(expected)[0]
    return None


def verify(completion, expected=None) -> Verdict:
    """Check a completion against the expected answer (None: only parse it).

    `expected` is read by expected_value: a value that is not an integer (3.5, NaN, "seven",
    a bool) can never be matched, so `correct` is False; verify still parses the completion
    and never raises.
    """
    if not isinstance(completion, str):
        try:
            completion = "" if completion is None else str(completion)
        except Exception:  # e.g. str() of a 5000-digit int is refused by Python
            completion = ""
    thinking, think_end = _between(completion, THINK, END_THINK)
    answer_text, answer_end = _between(completion, ANSWER, END_ANSWER, max(think_end, 0))
    answer, script = parse_number(answer_text) if answer_text is not None else (None, None)
    has_answer = answer is not None
    well_formed = (
        thinking is not None and has_answer
        and completion.lstrip().startswith(THINK)
        and completion[think_end:].lstrip().startswith(ANSWER)
        and completion[answer_end:].strip() == ""
        and completion.count(THINK) == 1 and completion.count(END_THINK) == 1
        and completion.count(ANSWER) == 1 and completion.count(END_ANSWER) == 1
    )
    correct = has_answer and answer == expected_value(expected)
    return Verdict(well_formed, has_answer, answer, correct, thinking, script)
