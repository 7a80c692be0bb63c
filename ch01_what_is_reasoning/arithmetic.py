"""The toy arithmetic world: problems, worked solutions, facts, and the pretraining corpus.

A problem is a chain of operations applied left to right to a start value, written the way a
mathematician would, with parentheses only where precedence needs them:

    start 12, then +8, *2, -5   ->   "(12+8)*2-5"   steps 12+8=20 20*2=40 40-5=35   answer 35

Every intermediate value stays in 1..99 and every operand is one digit, so each single step
("47+8=55") is easy, but the whole chain is not: a model answering directly has to run all
steps inside one forward pass. Writing the steps down (a reasoning trace) turns one hard
problem into several easy ones. That contrast is what chapter 1 measures.

Numbers are written in one of two scripts, Latin 0-9 or Persian ۰-۹ (chapter 2 uses this to
show language mixing). A small table of made-up "facts" (named constants) gives knowledge
questions: the corpus states some facts and never states the others.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

LATIN_DIGITS = "0123456789"
PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
SCRIPTS = ("latin", "persian")
_TO_PERSIAN = str.maketrans(LATIN_DIGITS, PERSIAN_DIGITS)
_TO_LATIN = str.maketrans(PERSIAN_DIGITS, LATIN_DIGITS)

MAX_VALUE = 19  # every intermediate value stays in 1..MAX_VALUE (no 0: 0*x would leak)
OPS = ("+", "-", "*")

THINK, END_THINK, ANSWER, END_ANSWER = "<think>", "</think>", "<answer>", "</answer>"
WAIT = " wait "  # marks a corrected step in journey-style traces


def to_script(text: str, script: str) -> str:
    """Rewrite every digit of `text` in `script` ('latin' or 'persian')."""
    if script == "latin":
        return text.translate(_TO_LATIN)
    if script == "persian":
        return text.translate(_TO_PERSIAN)
    raise ValueError(f"unknown script {script!r}: use one of {SCRIPTS}")


def apply_op(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    raise ValueError(f"unknown operation {op!r}: use one of {OPS}")


@dataclass(frozen=True)
class Problem:
    """A start value and a chain of (operation, one-digit operand) steps, in one script."""

    start: int
    steps: tuple[tuple[str, int], ...]
    script: str = "latin"

    @property
    def n_ops(self) -> int:
        return len(self.steps)

    def values(self) -> list[int]:
        """The running value after each step (the start value first)."""
        values = [self.start]
        for op, operand in self.steps:
            values.append(apply_op(values[-1], op, operand))
        return values

    @property
    def answer(self) -> int:
        return self.values()[-1]

    def expression(self) -> str:
        """The problem as a standard expression: parentheses only where precedence needs them."""
        text, last_op = str(self.start), None
        for op, operand in self.steps:
            if op == "*" and last_op in ("+", "-"):
                text = f"({text})"
            text, last_op = f"{text}{op}{operand}", op
        return to_script(text, self.script)

    def prompt(self) -> str:
        return self.expression() + "?"

    def rewrites(self) -> list[str]:
        """The expression after 0, 1, ..., n steps: '(3+4)*2-5', '7*2-5', '14-5', '9'."""
        values = self.values()
        return [Problem(values[k], self.steps[k:], self.script).expression()
                for k in range(self.n_ops + 1)]

    def step_lines(self) -> list[str]:
        """Each step on its own, as 'a+b = c' (used for drills)."""
        values = self.values()
        return [to_script(f"{before}{op}{operand} = {after}", self.script)
                for (op, operand), before, after in zip(self.steps, values, values[1:])]

    def with_script(self, script: str) -> Problem:
        return Problem(self.start, self.steps, script)

    def key(self) -> str:
        """A script-independent identity, used to keep test problems out of training."""
        return to_script(self.expression(), "latin")


def is_held_out(problem: Problem) -> bool:
    """A fixed quarter of all problems (by a hash of their Latin form) is reserved for tests."""
    return zlib.crc32(problem.key().encode()) % 4 == 0


def random_problem(rng: random.Random, n_ops: int, script: str = "latin") -> Problem:
    """A random chain of `n_ops` steps whose running value stays in 1..MAX_VALUE."""
    value = rng.randint(1, MAX_VALUE)
    start, steps = value, []
    for _ in range(n_ops):
        choices = [("+", d) for d in range(1, 10) if value + d <= MAX_VALUE]
        choices += [("-", d) for d in range(1, 10) if value - d >= 1]
        choices += [("*", d) for d in range(2, 10) if value * d <= MAX_VALUE]
        # Weigh the three operations equally, whatever the number of legal operands.
        by_op = {op: [c for c in choices if c[0] == op] for op in OPS}
        op = rng.choice([op for op in OPS if by_op[op]])
        step = rng.choice(by_op[op])
        steps.append(step)
        value = apply_op(value, *step)
    return Problem(start, tuple(steps), script)


def sample_problems(
    n: int, n_ops: int, *, split: str, seed: int, script: str = "latin"
) -> list[Problem]:
    """`n` problems with `n_ops` steps from the 'train' or 'test' split (disjoint by hash).

    Test sets are distinct problems; if a split has fewer than `n` distinct problems
    (possible only for one operation), it repeats them and says nothing is wrong: the
    space is simply small.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    rng = random.Random(f"{seed}-{split}-{n_ops}-{script}")
    want_held_out = split == "test"
    problems, seen = [], set()
    attempts = 0
    while len(problems) < n:
        attempts += 1
        p = random_problem(rng, n_ops, script)
        if is_held_out(p) != want_held_out:
            continue
        if split == "test" and p.key() in seen and attempts < 200 * n:
            continue
        seen.add(p.key())
        problems.append(p)
    return problems


# ---------------------------------------------------------------- answer styles
def direct_completion(answer: str, empty_think: bool = True) -> str:
    """A direct answer: no thinking (or an empty think block), then the answer."""
    think = f"{THINK}{END_THINK}" if empty_think else ""
    return f"{think}{ANSWER}{answer}{END_ANSWER}"


def trace_text(problem: Problem, rng: random.Random | None = None, *,
               mixed: bool = False, correction: bool = False) -> str:
    """The inside of a worked solution: the expression, rewritten one step at a time.

        (3+4)*2-5 = 7*2-5 = 14-5 = 9

    Each rewrite evaluates the leading operation and copies the rest, as at school.
    `mixed` writes each rewrite in a random script (language mixing); `correction` writes one
    rewrite with a wrong value first, then ' wait ' and the right one (journey learning).
    """
    rng = rng or random.Random(0)
    parts = problem.rewrites()
    if mixed:
        parts = [parts[0]] + [to_script(p, rng.choice(SCRIPTS)) for p in parts[1:]]
    if correction and problem.n_ops:
        k = rng.randrange(1, problem.n_ops + 1)
        right_value = problem.values()[k]
        wrong_value = right_value + rng.choice([-2, -1, 1, 2])
        if wrong_value < 0:
            wrong_value = right_value + 1
        wrong = Problem(wrong_value, problem.steps[k:], problem.script).expression()
        parts[k] = f"{wrong}{WAIT}{parts[k]}"
    return " = ".join(parts)


def step_by_step_completion(problem: Problem, rng: random.Random | None = None, **kw) -> str:
    answer = to_script(str(problem.answer), problem.script)
    return f"{THINK}{trace_text(problem, rng, **kw)}{END_THINK}{ANSWER}{answer}{END_ANSWER}"


def plain_worked_completion(problem: Problem, rng: random.Random | None = None) -> str:
    """A worked solution outside the R1 template (no tags): what a textbook would print."""
    return trace_text(problem, rng)


# ---------------------------------------------------------------- facts
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def make_facts(n_seen: int = 40, n_unseen: int = 40, seed: int = 7) -> tuple[dict, dict]:
    """Made-up named constants (three-letter names, values 0..99).

    The corpus states the `seen` facts over and over; the `unseen` ones never appear, so no
    model trained on the corpus can know them: asked anyway, it can only guess.
    """
    rng = random.Random(seed)
    names = sorted({rng.choice(_CONSONANTS) + rng.choice(_VOWELS) + rng.choice(_CONSONANTS)
                    for _ in range(2000)})
    rng.shuffle(names)
    if len(names) < n_seen + n_unseen:
        raise ValueError(f"only {len(names)} distinct names available")
    facts = {name: rng.randint(0, MAX_VALUE) for name in names[: n_seen + n_unseen]}
    seen = dict(list(facts.items())[:n_seen])
    unseen = dict(list(facts.items())[n_seen:])
    return seen, unseen


def fact_prompt(name: str) -> str:
    return f"{name}?"


def fact_completion(name: str, value: int, script: str, think: bool,
                    empty_think: bool = True) -> str:
    """Recall the fact inside <think> (think=True), or answer it directly."""
    answer = to_script(str(value), script)
    if think:
        return f"{THINK}{name}={answer}{END_THINK}{ANSWER}{answer}{END_ANSWER}"
    return direct_completion(answer, empty_think)


# ---------------------------------------------------------------- solving typed problems
def solve(text: str) -> int | None:
    """The value of an expression typed by a person ('(3+4)*2-5', Latin or Persian digits,
    optional trailing '?'), by a small recursive-descent parser (never eval()); None if
    `text` is not such an expression."""
    s = to_script(text.strip().removesuffix("?").replace(" ", ""), "latin")
    if not s or len(s) > 200:
        return None
    pos = 0

    def number():
        nonlocal pos
        start = pos
        while pos < len(s) and s[pos].isdigit() and s[pos] in LATIN_DIGITS:
            pos += 1
        if start == pos:
            raise ValueError
        return int(s[start:pos])

    def factor():
        nonlocal pos
        if pos < len(s) and s[pos] == "(":
            pos += 1
            value = expr()
            if pos >= len(s) or s[pos] != ")":
                raise ValueError
            pos += 1
            return value
        return number()

    def term():
        nonlocal pos
        value = factor()
        while pos < len(s) and s[pos] == "*":
            pos += 1
            value *= factor()
        return value

    def expr():
        nonlocal pos
        value = term()
        while pos < len(s) and s[pos] in "+-":
            op, pos = s[pos], pos + 1
            value = value + term() if op == "+" else value - term()
        return value

    try:
        value = expr()
    except (ValueError, RecursionError):
        return None
    return value if pos == len(s) else None
