"""Checked exercises: run a student's function against the course's reference on random cases.

Every chapter's `exercises.py` builds on two pieces from here:

- `check(...)` runs a "build it" exercise. It calls the student's function on each case, compares
  with the reference, and returns a `Verdict` that prints the first failing case, what was
  expected and what came back. A function that still raises `NotImplementedError` (the stub in the
  exercises notebook) gets "not done yet", not a failure, so the unsolved notebook runs cleanly.
- `ready(...)` guards an "experiment" exercise: until the student has written a prediction and
  filled in the setting, it prints what is missing and the experiment does not run.

The chapter 1 checkers themselves (attention mask, top-p filtering, answer extraction) sit at the
end of this file.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch

PASSED, FAILED, NOT_DONE = "passed", "failed", "not done yet"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one checker run; printing it (or leaving it last in a cell) shows it."""

    exercise: str
    status: str          # PASSED, FAILED or NOT_DONE
    cases: int           # how many cases were tried
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        mark = {PASSED: "✓", FAILED: "✗", NOT_DONE: "…"}[self.status]
        return f"{mark} Exercise {self.exercise}: {self.status}. {self.message}"

    __repr__ = __str__


def _show(value: Any, limit: int = 400) -> str:
    """A short, readable rendering of a case, an expected value or an answer."""
    if isinstance(value, torch.Tensor):
        text = f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})\n{value}"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


def same(expected: Any, got: Any, tol: float = 1e-5) -> bool:
    """Equal, with tolerance for floats and tensors (and shapes and dtypes that must match)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return False
        if expected.dtype == torch.bool or not expected.is_floating_point():
            return got.dtype == expected.dtype and bool(torch.equal(got, expected))
        return bool(torch.allclose(got.double(), expected.double(), atol=tol, rtol=tol,
                                   equal_nan=True))
    if isinstance(expected, float):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return False
        if math.isnan(expected):
            return math.isnan(got)
        return math.isclose(got, expected, rel_tol=tol, abs_tol=tol)
    if isinstance(expected, (list, tuple)):
        return (isinstance(got, (list, tuple)) and len(got) == len(expected)
                and all(same(e, g, tol) for e, g in zip(expected, got)))
    return type(got) is type(expected) and got == expected


def _call(fn: Callable, case: Sequence) -> Any:
    # Cases hold tensors a careless solution might change in place: give each call its own copy.
    return fn(*[c.clone() if isinstance(c, torch.Tensor) else c for c in case])


def check(exercise: str, student: Callable, reference: Callable, cases: Iterable[Sequence],
          compare: Callable[[Any, Any], bool] = same, show_case: Callable = None,
          quiet: bool = False) -> Verdict:
    """Run `student(*case)` and `reference(*case)` on every case; stop at the first difference.

    `cases` is a list of argument tuples (the chapter checkers draw them at random from a fixed
    seed, with the edge cases a broken version trips over first). Prints the verdict unless
    `quiet`, and returns it.
    """
    show_case = show_case or (lambda case: ", ".join(_show(c, 200) for c in case))
    tried = 0
    for case in cases:
        tried += 1
        expected = _call(reference, case)
        try:
            got = _call(student, case)
        except NotImplementedError:
            verdict = Verdict(exercise, NOT_DONE, 0,
                              "Replace the `raise NotImplementedError` with your code, then run "
                              "the cell again.")
            break
        except Exception as error:  # a student's bug: report it as the failing case
            verdict = Verdict(exercise, FAILED, tried,
                              f"Case {tried} raised {type(error).__name__}: {error}\n"
                              f"  input:    {show_case(case)}\n"
                              f"  expected: {_show(expected)}")
            break
        if not compare(expected, got):
            verdict = Verdict(exercise, FAILED, tried,
                              f"Case {tried} differs from the reference.\n"
                              f"  input:    {show_case(case)}\n"
                              f"  expected: {_show(expected)}\n"
                              f"  got:      {_show(got)}")
            break
    else:
        verdict = Verdict(exercise, PASSED, tried, f"All {tried} cases match the reference.")
    if not quiet:
        print(verdict)
    return verdict


def ready(exercise: str, **answers: Any) -> bool:
    """True once every answer of an experiment exercise is filled in; otherwise say which are not.

    >>> ready("2.6", PREDICTION=None, GROUP_SIZE=16)   # prints what is missing, returns False
    """
    missing = [name for name, value in answers.items() if value is None]
    if missing:
        print(f"… Exercise {exercise}: not done yet. Set {', '.join(missing)} in this cell "
              "(write your prediction before you run), then run it again.")
        return False
    return True


def compare_prediction(exercise: str, prediction: str, measured: str) -> str:
    """One line that puts the student's prediction next to what the run measured."""
    verdict = "as you predicted" if prediction.strip().lower() == measured else "not what you predicted"
    line = f"Exercise {exercise}: you predicted '{prediction}', the run measured '{measured}' ({verdict})."
    print(line)
    return line


def direction(before: float, after: float, tolerance: float) -> str:
    """'higher', 'lower' or 'about the same': how a measured number moved, beyond `tolerance`."""
    if after > before + tolerance:
        return "higher"
    if after < before - tolerance:
        return "lower"
    return "about the same"


# ------------------------------------------------------------------ chapter 1's checkers
# The references are the course's own code, so an exercise checks the function the chapter runs.
# Each checker's cases start with the fixed edge cases a broken version trips over, then random
# ones from a fixed seed (the same cases every run, so a verdict is reproducible).

def _causal_mask_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    cases = [(1, 0), (2, 0), (5, 0), (3, 1), (1, 4), (4, 3), (8, 0), (6, 10), (17, 2)]
    cases += [(rng.randint(1, 12), rng.randint(0, 12)) for _ in range(10)]
    return cases


def check_causal_mask(causal_mask: Callable[[int, int], torch.Tensor]) -> Verdict:
    """Exercise 1.1: the causal mask, with `past` cached keys in front (the KV cache).

    `causal_mask(T, past)` returns a (T, past + T) bool tensor, True where query i (at position
    past + i) may attend to key j, i.e. j <= past + i."""
    from .model import causal_mask as reference
    return check("1.1", causal_mask, lambda T, past: reference(T, past), _causal_mask_cases(),
                 show_case=lambda case: f"T={case[0]}, past={case[1]}")


def _top_p_cases(seed: int = 0) -> list:
    rng = torch.Generator().manual_seed(seed)
    cases = [
        (torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.5),      # the top token alone reaches 0.5
        (torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.9),      # the token that crosses 0.9 is kept
        (torch.tensor([[1.0, 3.0, 2.0]]), 1.0),            # top_p = 1 keeps everything
        (torch.tensor([[5.0, -5.0, 0.0]]), 0.01),          # a tiny top_p keeps the best token
        (torch.tensor([[0.0, 4.0, 1.0], [3.0, 0.0, 2.9]]), 0.7),   # each row on its own
    ]
    for _ in range(20):  # random logits have no ties, so the kept set is unique
        rows = int(torch.randint(1, 5, (1,), generator=rng))
        vocab = int(torch.randint(2, 40, (1,), generator=rng))
        logits = torch.randn(rows, vocab, generator=rng) * 3
        cases.append((logits, round(float(torch.rand(1, generator=rng)) * 0.98 + 0.01, 3)))
    return cases


def check_top_p_filter(top_p_filter: Callable[[torch.Tensor, float], torch.Tensor]) -> Verdict:
    """Exercise 1.2: nucleus (top-p) filtering of a batch of logits (dropped tokens get -inf)."""
    from .sampling import filter_logits
    return check("1.2", top_p_filter, lambda logits, p: filter_logits(logits, top_p=p),
                 _top_p_cases())


def _answer_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    fixed = ["<think>3+4=7</think><answer>7</answer>", "<answer>12</answer>",
             "<think>a</think> <answer> 42 </answer>", "no tags at all", "<answer></answer>",
             "<think>x</think><answer>7", "<answer>1</answer><think>x</think><answer>2</answer>",
             "<think>x</think><answer>1</answer><answer>2</answer>", "<answer>3.5</answer>",
             "<answer>-5</answer>", "<think>wait</think>", "<answer>۱۲</answer>",
             "<answer>1۲</answer>", "<answer>1234567890123</answer>", "<think><answer>5</answer>",
             "<answer>5</answer></think><answer>6</answer>", "<answer>1 2</answer>",
             "<answer>000123456789</answer>"]
    cases = [(text,) for text in fixed]
    for _ in range(30):
        think = "".join(rng.choice("0123456789+-*=() ") for _ in range(rng.randint(0, 20)))
        value = rng.choice([str(rng.randint(0, 999)), str(rng.randint(-99, -1)), "", "1 2"])
        head = rng.choice(["", "<answer>9</answer>", " "])
        tail = rng.choice(["", " ", "</answer>", "<answer>", "x"])
        cases.append((f"{head}<think>{think}</think><answer>{value}</answer>{tail}",))
    return cases


def check_extract_answer(extract_answer: Callable[[str], Any]) -> Verdict:
    """Exercise 1.3: the verifier's answer extraction (the number, or None)."""
    from .verifier import verify
    return check("1.3", extract_answer, lambda text: verify(text).answer, _answer_cases())


RAISES_VALUE_ERROR = "raises ValueError"


def _or_value_error(encode: Callable[[str], Any]) -> Callable[[str], Any]:
    """`encode`, with a ValueError turned into a value the checker can compare (any other
    exception, NotImplementedError included, still propagates)."""
    def wrapped(text):
        try:
            return encode(text)
        except ValueError:
            return RAISES_VALUE_ERROR
    return wrapped


def _encode_cases(seed: int = 0) -> list:
    from .arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
    from .tokenizer import CHARACTERS
    rng = random.Random(seed)
    fixed = ["", "3+4?", "(3+4)*2?<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>",
             "۱۴+۵ = ۱۹", "<think></think>", "<answer>5</answer>", "<think><think>",
             "a</answer>b", "wait, 7*2 = 14.", "3÷4?", "Abc", "x<y", "<thinking>", "</think",
             "3<eos>", "<bos>3", "<pad>", "7>", "tab\there"]
    cases = [(text,) for text in fixed]
    pieces = list(CHARACTERS) * 3 + [THINK, END_THINK, ANSWER, END_ANSWER]
    for _ in range(30):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        if rng.random() < 0.2:   # now and then a character the vocabulary lacks
            i = rng.randint(0, len(text))
            text = text[:i] + rng.choice("<>ABZ÷!_") + text[i:]
        cases.append((text,))
    return cases


def check_encode(encode: Callable[[str], list]) -> Verdict:
    """Exercise 1.4: the character tokenizer's encode (no BOS/EOS); ValueError for a character
    the vocabulary lacks."""
    from .tokenizer import CharTokenizer
    tokenizer = CharTokenizer()
    return check("1.4", _or_value_error(encode), _or_value_error(tokenizer.encode),
                 _encode_cases())
