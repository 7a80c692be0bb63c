"""Reading a trace for self-corrections: the "wait" of R1-Zero's aha moment, made countable.

A trace rewrites the expression one step at a time, `(3+4)*2-5 = 7*2-5 = 14-5 = 9`. A
self-correction is a rewrite followed by ' wait ' and another one: `15-5 wait 14-5`. It is
*productive* when the rewrite before 'wait' was wrong and the one after it is right, where
"right" means the correct next rewrite of whatever the trace wrote just before (so a later
step is judged on its own, even after an earlier uncorrected slip).
"""

from __future__ import annotations

from dataclasses import dataclass

from ch01_what_is_reasoning.arithmetic import OPS, WAIT, Problem, to_script
from ch01_what_is_reasoning.verifier import verify

STEP_SEPARATOR = " = "


def parse_expression(text: str) -> Problem | None:
    """The problem an expression such as '(3+4)*2-5' (either digit script) stands for, or
    None when it is not one: numbers and operations, left to right, parentheses ignored
    (the world writes them only where left-to-right order needs them)."""
    text = to_script(text.strip(), "latin").replace("(", "").replace(")", "")
    numbers, ops, current = [], [], ""
    for ch in text:
        if ch.isdigit():
            current += ch
            if len(current) > 3:   # no number of this world is that long
                return None
        elif ch in OPS and current:
            numbers.append(int(current))
            ops.append(ch)
            current = ""
        else:
            return None
    if not current:
        return None
    numbers.append(int(current))
    return Problem(numbers[0], tuple(zip(ops, numbers[1:])))


def next_rewrite(previous: str) -> str | None:
    """The correct rewrite after `previous` ('7*2-5' -> '14-5'), Latin digits; None when
    `previous` is not an expression with a step left."""
    problem = parse_expression(previous)
    if problem is None or not problem.steps:
        return None
    return Problem(problem.values()[1], problem.steps[1:]).expression()


def _same(a: str, b: str | None) -> bool:
    return b is not None and to_script(a.strip(), "latin") == b


@dataclass(frozen=True)
class Corrections:
    """What one completion's thinking shows."""

    steps: int              # rewrites written (a corrected one counts once)
    wrong_steps: int        # rewrites whose final version is not the correct next one
    corrections: int        # ' wait ' markers
    productive: int         # corrections that replaced a wrong rewrite with the right one


def read_corrections(completion: str) -> Corrections:
    """Count steps, wrong steps and (productive) self-corrections in a completion's thinking."""
    thinking = verify(completion).thinking or ""
    parts = thinking.split(STEP_SEPARATOR)
    steps = wrong = corrections = productive = 0
    previous = parts[0]
    for part in parts[1:]:
        versions = part.split(WAIT)
        expected = next_rewrite(previous)
        steps += 1
        corrections += len(versions) - 1
        for before, after in zip(versions, versions[1:]):
            productive += (not _same(before, expected)) and _same(after, expected)
        wrong += not _same(versions[-1], expected) and expected is not None
        previous = versions[-1]
    return Corrections(steps, wrong, corrections, productive)


def correction_rates(completions: list[str]) -> dict:
    """Shares of completions with a self-correction and with a productive one, and the share
    of written steps that ended wrong."""
    read = [read_corrections(c) for c in completions]
    n, steps = max(1, len(read)), max(1, sum(r.steps for r in read))
    return {"self_correction_rate": sum(r.corrections > 0 for r in read) / n,
            "productive_correction_rate": sum(r.productive > 0 for r in read) / n,
            "wrong_step_rate": sum(r.wrong_steps for r in read) / steps}
