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

The chapter 1 checkers themselves (attention mask, top-p filtering, answer extraction) sit at the
end of this file.
"""

from __future__ import annotations

import copy
import inspect
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


# ------------------------------------------------------------------ chapter 1's checkers
# The references are the course's own code, so an exercise checks the function the chapter runs.
# Each checker's cases start with the fixed edge cases a broken version trips over, then random
# ones from a fixed seed (the same cases every run, so a verdict is reproducible).

def _causal_mask_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    cases = [(1, 0), (2, 0), (5, 0), (3, 1), (1, 4), (4, 3), (8, 0), (6, 10), (17, 2)]
    # the edges of a context: a whole 128-token block at once, its last position alone, half
    # cached; and lengths past any fixed-size buffer (the mask has no upper limit of its own)
    cases += [(128, 0), (1, 127), (64, 64), (40, 300), (2, 1100)]
    cases += [(rng.randint(1, 12), rng.randint(0, 12)) for _ in range(5)]
    return cases


def check_causal_mask(causal_mask: Callable[[int, int], torch.Tensor]) -> Verdict:
    """Exercise 1.1: the causal mask, with `past` cached keys in front (the KV cache).

    `causal_mask(T, past)` returns a (T, past + T) bool tensor, True where query i (at position
    past + i) may attend to key j, i.e. j <= past + i."""
    from .model import causal_mask as reference
    return check("1.1", causal_mask, lambda T, past: reference(T, past), _causal_mask_cases(),
                 show_case=lambda case: f"T={case[0]}, past={case[1]}")


_LN2 = float(torch.tensor(math.log(2.0)))   # ln 2 in float32: softmax gives exact halves, quarters


def _top_p_cases(seed: int = 0) -> list:
    rng = torch.Generator().manual_seed(seed)
    inf, half = float("inf"), -_LN2
    cases = [
        (torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.5),      # the top token alone reaches 0.5
        (torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.9),      # the token that crosses 0.9 is kept
        (torch.tensor([[1.0, 3.0, 2.0]]), 1.0),            # top_p = 1 keeps everything
        (torch.tensor([[5.0, -5.0, 0.0]]), 0.01),          # a tiny top_p keeps the best token
        (torch.tensor([[0.0, 4.0, 1.0], [3.0, 0.0, 2.9]]), 0.7),   # each row on its own
        # exact ties of the running total with top_p (probabilities 1/2, 1/4, 1/8 are exact in
        # float32): the mass before a token must be *less* than top_p, so the token whose
        # predecessors reach top_p exactly is dropped (only dropped tokens share a logit)
        (torch.tensor([[half, 0.0, half]]), 0.5),
        (torch.tensor([[2 * half, half, 0.0, 2 * half], [0.0, 2 * half, half, 2 * half]]), 0.75),
        # extreme logits, as after a low temperature (logits / 0.01): exp() overflows, and the
        # probabilities round to exactly 1 and 0
        (torch.tensor([[1000.0, 999.0, 998.0, -1000.0], [-3e4, 2e4, 1e4, 0.0]]), 0.9),
        (torch.randn(3, 30, generator=rng) * 300, 1.0),    # top_p = 1 keeps every token, still
        (torch.randn(2, 12, generator=rng) * 300, 0.3),
        # tokens already at -inf (a top-k filter before top-p)
        (torch.tensor([[-inf, 2.0, -inf, 1.0, 0.0], [0.5, -inf, -inf, -inf, -inf]]), 0.8),
        (torch.tensor([[-inf, 2.0, -inf, 1.0, 0.0]]), 1.0),
    ]
    for _ in range(13):  # random logits have no ties, so the kept set is unique
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
             "<answer>000123456789</answer>",
             # rule 1, tags in unusual orders: the FIRST </think> after the first <think>
             "<think>a</think><answer>5</answer><think>b</think><answer>6</answer>",
             "<think>a</think><answer>5</answer></think><answer>6</answer>",
             "x</think><answer>1</answer><think>y</think><answer>2</answer>",
             "<think>a<think>b</think><answer>3</answer>c</think><answer>4</answer>",
             "<answer>3</answer><think><answer>5</answer>",     # <think> never closed: from 0
             # no answer after the thinking: None (no going back to one inside or before it)
             "<think><answer>5</answer></think>", "<answer>7</answer><think>x</think>",
             "<think>x</think></answer><answer>5</answer>",     # a </answer> before the <answer>
             # newlines and other whitespace inside and around the tags
             "<think>x</think>\n<answer>\n7\n</answer>\n",
             "<think>a\n<answer>1</answer>\nb</think><answer>7</answer>",
             "<think>x</think><answer>\t42\r\n</answer>", "<think>x</think><answer> 123456789012 </answer>",
             "<think>x</think><answer>\u3000۸\u3000</answer>",
             # only 0-9 and ۰-۹ are digits (int() and str.isdigit() take more)
             "<think>x</think><answer>٣</answer>", "<think>x</think><answer>１２</answer>",
             "<think>x</think><answer>1_000</answer>", "<think>x</think><answer>+5</answer>",
             "<think>x</think><answer>²</answer>", "<think>x</think><answer>۱۲۳۴۵۶۷۸۹۰۱۲</answer>",
             "<think>x</think><answer>0</answer>", "<think>x</think><answer>007</answer>",
             "<Think>x</Think><Answer>5</Answer>"]               # tags are matched exactly
    cases = [(text,) for text in fixed]
    for _ in range(8):
        think = "".join(rng.choice("0123456789+-*=() \n") for _ in range(rng.randint(0, 20)))
        value = rng.choice([str(rng.randint(0, 999)), str(rng.randint(-99, -1)), "", "1 2", " 7\n"])
        head = rng.choice(["", "<answer>9</answer>", " ", "</think>"])
        tail = rng.choice(["", " ", "</answer>", "<answer>", "x", "<think>1</think><answer>2</answer>"])
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
             "3<eos>", "<bos>3", "<pad>", "7>", "tab\there",
             " 3+4? ",                                  # spaces are characters: keep them
             "3+4?\n", "\n", "3\r4",                    # other whitespace is not in the vocabulary
             "٣+۴", "１+2",                              # digits of other scripts: not either
             "</answer><answer></think><think>",        # tags in any order, each one token
             "<think><answer>1</answer></think>", "<think >", "<THINK>"]
    cases = [(text,) for text in fixed]
    pieces = list(CHARACTERS) * 3 + [THINK, END_THINK, ANSWER, END_ANSWER]
    for _ in range(20):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        if rng.random() < 0.2:   # now and then a character the vocabulary lacks
            i = rng.randint(0, len(text))
            text = text[:i] + rng.choice("<>ABZ÷!_\n\t") + text[i:]
        cases.append((text,))
    return cases


def check_encode(encode: Callable[[str], list]) -> Verdict:
    """Exercise 1.4: the character tokenizer's encode (no BOS/EOS); ValueError for a character
    the vocabulary lacks."""
    from .tokenizer import CharTokenizer
    tokenizer = CharTokenizer()
    return check("1.4", _or_value_error(encode), _or_value_error(tokenizer.encode),
                 _encode_cases())
