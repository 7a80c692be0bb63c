"""A process checker: does every written step of a trace follow from the one before?

Chapter 1's verifier checks the *outcome*: is the final answer the expected one? That needs
the answer key. A process verifier checks the *work* instead, and needs no key: in this world
every step of a worked solution can be checked on its own,

    (3+4)*2-5 = 7*2-5 = 14-5 = 9        then <answer>9</answer>

- rewrite 0 must be the prompt's expression, copied right;
- rewrite k must be rewrite k-1 with its leading operation done and the rest copied: the same
  value (checked with ch01's `solve`, never eval) and exactly the expected text (a skipped step
  or a mis-copied rest can keep the value, so the value alone is not enough);
- the trace must end in a bare number, and <answer> must state it.

"X wait Y" is a corrected step (journey learning): only Y is the step, and the correction is
not an error. Either digit script is allowed in every rewrite: keeping to the prompt's script
is chapter 2's consistency reward's job, not correctness.

This is a rule-based stand-in for a process reward model (PRM, "Let's Verify Step by Step",
Lightman et al. 2023): what best-of-N and beam search rank samples with. Like ch01's verifier
it never raises and never evaluates text as code.
"""

from __future__ import annotations

from dataclasses import dataclass

from ch01_what_is_reasoning.arithmetic import LATIN_DIGITS, OPS, WAIT, Problem, solve, to_script
from ch01_what_is_reasoning.verifier import verify

EQUALS = " = "            # what separates rewrites in a trace
MAX_REWRITE_CHARS = 200   # longer "expressions" are not from this world (and stay cheap to reject)
MAX_STEPS = 256           # a trace in this world has ~10 rewrites; more are not checked one by one


@dataclass(frozen=True)
class StepCheck:
    n_steps: int                 # rewrites written, the copy of the prompt (rewrite 0) included
    n_valid: int                 # rewrites that copy the prompt (k=0) or follow from rewrite k-1
    first_error: int | None      # first invalid rewrite; n_steps when only the answer is wrong
    valid: bool                  # well-formed, every rewrite valid, and the answer consistent
    score: float                 # checks passed before the first failed one / (n_steps + 1)
    well_formed: bool            # <think>...</think><answer>...</answer>, as ch01's verifier says
    answer_consistent: bool      # the trace ends in a bare number and <answer> states it
    error: str | None            # the first problem found, in words (None when valid)


def parse_chain(text) -> Problem | None:
    """The problem whose standard expression is exactly `text` (either script), else None.

    The numbers and operations are read left to right, ignoring parentheses; then the problem
    is written back with ch01's `Problem.expression()` and must give `text` again, so misplaced
    parentheses, leading zeros, spaces or anything else are rejected, not repaired.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_REWRITE_CHARS:
        return None
    latin = to_script(text, "latin")
    numbers, ops, digits = [], [], ""
    for ch in latin:
        if ch in LATIN_DIGITS:  # not str.isdigit(): that also accepts '²' and other digits
            digits += ch
        elif ch in OPS and digits:
            numbers.append(int(digits))
            ops.append(ch)
            digits = ""
        elif ch not in "()":
            return None
    if not digits:
        return None
    numbers.append(int(digits))
    problem = Problem(numbers[0], tuple(zip(ops, numbers[1:])))
    return problem if problem.expression() == latin else None


def written_step(part: str) -> str:
    """The step a part of the trace stands for: in 'X wait Y' only the correction Y counts."""
    return part.rsplit(WAIT, 1)[-1].strip()


def _first_step_error(step: Problem | None, prompt_expression: Problem | None) -> str | None:
    if step is None:
        return "not an expression in this world's standard form"
    if prompt_expression is None or step.expression() != prompt_expression.expression():
        return "does not copy the prompt's expression"
    return None


def _next_step_error(step: Problem | None, previous: Problem | None) -> str | None:
    if previous is None or previous.n_ops == 0:
        return "follows a step that cannot be continued"
    if step is None:
        return "not an expression in this world's standard form"
    before, after = previous.expression(), step.expression()
    if solve(after) != solve(before):
        return "changes the value"
    if after != previous.rewrites()[1]:  # the leading operation done, the rest copied
        return "is not the previous step with its first operation done (skipped or mis-copied)"
    return None


def check_steps(prompt, completion) -> StepCheck:
    """Check every written step of `completion` against the step before it.

    There is no `expected` argument on purpose: the checker knows only the question.
    """
    prompt = prompt if isinstance(prompt, str) else ""
    verdict = verify(completion)
    parts = [] if verdict.thinking is None else verdict.thinking.split(EQUALS)
    # Past MAX_STEPS no trace of this world is meant: count those steps, but do not parse them.
    steps = [parse_chain(written_step(p)) for p in parts[:MAX_STEPS]]
    target = parse_chain(prompt.strip().removesuffix("?").strip())

    errors = [_first_step_error(steps[0], target)] if steps else []
    errors += [_next_step_error(s, before) for before, s in zip(steps, steps[1:])]
    errors += ["too many steps for this world"] * (len(parts) - len(steps))
    last = steps[-1] if steps and len(steps) == len(parts) else None
    answer_consistent = (last is not None and last.n_ops == 0 and verdict.answer is not None
                         and verdict.answer == last.start)

    n_steps, n_valid = len(parts), sum(e is None for e in errors)
    first_error = next((k for k, e in enumerate(errors) if e is not None), None)
    error = None if first_error is None else f"step {first_error}: {errors[first_error]}"
    if first_error is None and not answer_consistent:
        first_error = n_steps
        error = ("no <think> block" if verdict.thinking is None else
                 "the trace does not end in a bare number that <answer> states")
    if error is None and not verdict.well_formed:
        error = "not <think>...</think><answer>...</answer>"
    # No credit after the first error, as a process reward model scores a whole solution: a
    # step that follows correctly from a wrong one is still on the wrong path. (Crediting every
    # such step ranked a trace that drops an operation and stays consistent above one that
    # drops it and puts it back.) Malformed text scores 0.
    checks_passed = n_steps + 1 if first_error is None else first_error
    score = checks_passed / (n_steps + 1) if verdict.well_formed else 0.0
    return StepCheck(n_steps=n_steps, n_valid=n_valid, first_error=first_error,
                     valid=verdict.well_formed and first_error is None, score=score,
                     well_formed=verdict.well_formed, answer_consistent=answer_consistent,
                     error=error)


def step_score(prompt, completion) -> float:
    """The share of checks passed before the first failure, in [0, 1]: what best-of-N ranks
    samples by."""
    return check_steps(prompt, completion).score
