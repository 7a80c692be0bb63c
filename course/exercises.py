"""Checked exercises: run a student's function against the course's reference on random cases.

Every chapter's `exercises.py` builds on two pieces from here:

- `check(...)` runs a "build it" exercise. It calls the student's function on each case, compares
  with the reference, and returns a `Verdict` that prints the first failing case, what was
  expected and what came back. A function that still raises `NotImplementedError` (the stub in the
  exercises notebook) gets "not done yet", not a failure, so the unsolved notebook runs cleanly.
  The student's function gets its own copy of every input, and a function that changes its
  inputs (sorts a list, fills a tensor in place, adds a key to a dict) fails: the course's code
  passes the same lists and tensors on to the next step.
- `ready(...)` guards an "experiment" exercise: until the student has written a prediction and
  filled in the setting, it prints what is missing and the experiment does not run.

Each chapter's own checkers (chapter 1's attention mask, top-p filtering, answer extraction,
encode) live in that chapter's `exercises.py`.
"""

from __future__ import annotations

import copy
import inspect
import math
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
    """A short, readable rendering of a case, an expected value or an answer (numbers with 8
    significant digits, so two that differ in the 6th digit do not print the same)."""
    if isinstance(value, torch.Tensor):
        with torch._tensor_str.printoptions(precision=8):
            text = f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})\n{value}"
    elif isinstance(value, float):
        text = f"{value:.8g}"
    elif type(value) is dict and all(isinstance(k, str) for k in value):   # labelled parts
        text = "\n".join(f"[{k}] {_show(v, limit)}" for k, v in value.items())
        limit *= max(1, len(value))
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


def _copy(value: Any) -> Any:
    """A deep copy of one argument: every call (the reference's, the student's) gets its own, and
    the checker keeps the original to see whether the student's function changed its copy. A
    model is not copied (that is slow): the checker keeps a snapshot of its state instead."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, torch.nn.Module):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:  # something that cannot be copied is passed as it is (and not checked)
        return value


@dataclass(frozen=True)
class _ModelState:
    """A model's state before a call: its mode and a copy of its parameters and buffers."""

    training: bool
    state: dict

    @classmethod
    def of(cls, model: torch.nn.Module) -> "_ModelState":
        return cls(model.training, {k: v.detach().clone() for k, v in model.state_dict().items()})

    def restore(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.state)
        model.train(self.training)


def _snapshot(value: Any) -> Any:
    """What to compare an argument with after the call: the argument itself (the student got a
    copy of it), or a model's state (the student got the model)."""
    return _ModelState.of(value) if isinstance(value, torch.nn.Module) else value


def _unchanged(before: Any, after: Any, depth: int = 0) -> bool:
    """True when `after` (the student's copy, after the call) still equals `before` (the
    checker's untouched original): tensors value for value (NaN equal to NaN), with their shape
    and dtype; lists, tuples, dicts and sets element by element; a model by its parameters and
    buffers; other objects by their attributes."""
    if depth > 6:
        return True
    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor) or before.shape != after.shape or before.dtype != after.dtype:
            return False
        if torch.equal(before, after.detach()):
            return True
        if before.is_floating_point() or before.is_complex():
            a, b = before.detach(), after.detach()
            return bool(((a == b) | (a.isnan() & b.isnan())).all())
        return False
    if isinstance(before, torch.nn.Module):
        before = _ModelState.of(before)
    if isinstance(before, _ModelState):
        if not isinstance(after, torch.nn.Module) or before.training != after.training:
            return False
        theirs = after.state_dict()
        return before.state.keys() == theirs.keys() and all(
            _unchanged(before.state[k], theirs[k], depth + 1) for k in before.state)
    if isinstance(before, float) and math.isnan(before):
        return isinstance(after, float) and math.isnan(after)
    if isinstance(before, (list, tuple)):
        return (type(after) is type(before) and len(after) == len(before)
                and all(_unchanged(b, a, depth + 1) for b, a in zip(before, after)))
    if isinstance(before, dict):
        return (isinstance(after, dict) and list(after) == list(before)
                and all(_unchanged(before[k], after[k], depth + 1) for k in before))
    if isinstance(before, (str, bytes, int, float, complex, bool, type(None), set, frozenset)):
        return type(after) is type(before) and after == before
    if hasattr(before, "__dict__") and not callable(before):
        return type(after) is type(before) and _unchanged(vars(before), vars(after), depth + 1)
    try:
        return bool(before == after)
    except Exception:
        return True


def _names(fn: Callable, n: int) -> list[str]:
    """What to call the arguments of `fn` in a message: its parameters' names where they can be
    read, else 'argument 1', 'argument 2', ..."""
    names = [f"argument {i + 1}" for i in range(n)]
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return names
    for i, p in enumerate(params[:n]):
        names[i] = f"`{p.name}` ({names[i]})"
    return names


def _call(fn: Callable, case: Sequence) -> tuple[Any, list]:
    """`fn` on its own copy of the case's arguments: (what it returned, the copies after the call)."""
    args = [_copy(c) for c in case]
    return fn(*args), args


def _differing_parts(expected: Any, got: Any, compare: Callable) -> list[str]:
    """The labels of the parts that differ, when both are dicts of labelled parts (a loss's
    value and its gradient, ...); [] otherwise."""
    if not (isinstance(expected, dict) and isinstance(got, dict)):
        return []
    parts = []
    for key in expected:
        try:
            if key not in got or not compare({key: expected[key]}, {key: got[key]}):
                parts.append(str(key))
        except Exception:
            parts.append(str(key))
    return parts


def check(exercise: str, student: Callable, reference: Callable, cases: Iterable[Sequence],
          compare: Callable[[Any, Any], bool] = same, show_case: Callable = None,
          quiet: bool = False) -> Verdict:
    """Run `student(*case)` and `reference(*case)` on every case; stop at the first difference.

    `cases` is a list of argument tuples (the chapter checkers draw them at random from a fixed
    seed, with the edge cases a broken version trips over first). Each call gets its own deep
    copy of the case; a student's function that changes one of its inputs fails (the course's
    code reuses what it passes). Prints the verdict unless `quiet`, and returns it.
    """
    show_case = show_case or (lambda case: ", ".join(_show(c, 200) for c in case))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # the cases are tiny: threads only add overhead (10x on a busy CPU)
    try:
        verdict = _run_cases(exercise, student, reference, cases, compare, show_case)
    finally:
        torch.set_num_threads(threads)
    if not quiet:
        print(verdict)
    return verdict


def _run_cases(exercise, student, reference, cases, compare, show_case) -> Verdict:
    tried = 0
    for case in cases:
        tried += 1
        expected, _ = _call(reference, case)
        before = [_snapshot(c) for c in case]
        try:
            got, after = _call(student, case)
        except NotImplementedError:
            verdict = Verdict(exercise, NOT_DONE, 0,
                              "Replace the `raise NotImplementedError` with your code, then run "
                              "the cell again.")
            break
        except Exception as error:  # a student's bug: report it as the failing case
            for i, old in enumerate(before):     # a model it changed before raising: as it was
                if isinstance(old, _ModelState) and not _unchanged(old, case[i]):
                    old.restore(case[i])
            verdict = Verdict(exercise, FAILED, tried,
                              f"Case {tried} raised {type(error).__name__}: {error}\n"
                              f"  input:    {show_case(case)}\n"
                              f"  expected: {_show(expected)}")
            break
        changed = [i for i, (old, now) in enumerate(zip(before, after)) if not _unchanged(old, now)]
        for i in changed:
            if isinstance(before[i], _ModelState):   # the caller's model, as it was
                before[i].restore(after[i])
        if changed:
            i = changed[0]
            was, now = _show(case[i], 300), _show(after[i], 300)
            if isinstance(before[i], _ModelState):
                was = f"a {type(case[i]).__name__} in {'train' if before[i].training else 'eval'} mode"
                now = "its parameters or its mode changed (no optimizer steps, no edits of its weights)"
            verdict = Verdict(exercise, FAILED, tried,
                              f"Case {tried}: your function changed its input "
                              f"{_names(student, len(case))[i]} in place.\n"
                              f"  before the call: {was}\n"
                              f"  after the call:  {now}\n"
                              f"  The course passes the same lists and tensors on to the next step: "
                              f"work on a copy (list(x), dict(x), x.clone()) and leave the inputs "
                              f"as they came.\n"
                              f"  input:    {show_case(case)}")
            break
        if not compare(expected, got):
            parts = _differing_parts(expected, got, compare)
            where = f" in: {', '.join(parts)}" if parts else ""
            verdict = Verdict(exercise, FAILED, tried,
                              f"Case {tried} differs from the reference{where}.\n"
                              f"  input:    {show_case(case)}\n"
                              f"  expected: {_show(expected)}\n"
                              f"  got:      {_show(got)}")
            break
    else:
        verdict = Verdict(exercise, PASSED, tried, f"All {tried} cases match the reference.")
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
