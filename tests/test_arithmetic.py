"""The toy arithmetic world: expressions, splits, scripts, completions and facts."""

from __future__ import annotations

import random

import pytest
from helpers import safe_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from ch01_what_is_reasoning.arithmetic import (
    ANSWER,
    END_ANSWER,
    END_THINK,
    LATIN_DIGITS,
    MAX_VALUE,
    PERSIAN_DIGITS,
    THINK,
    WAIT,
    Problem,
    apply_op,
    direct_completion,
    fact_completion,
    is_held_out,
    make_facts,
    plain_worked_completion,
    random_problem,
    sample_problems,
    step_by_step_completion,
    to_script,
    trace_text,
)
from ch01_what_is_reasoning.verifier import verify


def test_safe_eval_itself():
    assert safe_eval("(12+8)*2-5") == 35
    assert safe_eval("12+8*2-5") == 23
    with pytest.raises(AssertionError):
        safe_eval("__import__('os')")


problems_strategy = st.builds(
    lambda seed, n_ops, script: random_problem(random.Random(seed), n_ops, script),
    st.integers(0, 2**32), st.integers(1, 8), st.sampled_from(["latin", "persian"]))


# ------------------------------------------------------------------ problems
def test_documented_example():
    p = Problem(3, (("+", 4), ("*", 2), ("-", 5)))
    assert p.expression() == "(3+4)*2-5"
    assert p.prompt() == "(3+4)*2-5?"
    assert p.values() == [3, 7, 14, 9]
    assert p.answer == 9
    assert p.n_ops == 3
    assert [line.replace(" ", "") for line in p.step_lines()] == ["3+4=7", "7*2=14", "14-5=9"]


def test_rewrites():
    p = Problem(3, (("+", 4), ("*", 2), ("-", 5)))
    assert p.rewrites() == ["(3+4)*2-5", "7*2-5", "14-5", "9"]
    assert p.with_script("persian").rewrites()[1] == "۷*۲-۵"


@settings(max_examples=300, deadline=None)
@given(problems_strategy)
def test_random_problem_expression_evaluates_to_answer(p):
    latin = to_script(p.expression(), "latin")
    assert safe_eval(latin) == p.answer
    # every intermediate value in 1..MAX_VALUE, every operand one digit (and >= 2 for '*')
    assert all(1 <= v <= MAX_VALUE for v in p.values())
    for op, operand in p.steps:
        assert op in "+-*"
        assert 1 <= operand <= 9
        if op == "*":
            assert operand >= 2
    # the values chain is really the steps applied left to right
    for (op, operand), before, after in zip(p.steps, p.values(), p.values()[1:]):
        assert apply_op(before, op, operand) == after


@settings(max_examples=200, deadline=None)
@given(problems_strategy)
def test_parentheses_only_where_needed(p):
    """Removing any pair of parentheses changes the value: none of them is redundant."""
    text = to_script(p.expression(), "latin")
    stack, pairs = [], []
    for i, c in enumerate(text):
        if c == "(":
            stack.append(i)
        elif c == ")":
            pairs.append((stack.pop(), i))
    assert not stack
    for i, j in pairs:
        without = text[:i] + text[i + 1:j] + text[j + 1:]
        assert safe_eval(without) != p.answer, (text, without)


def test_expression_uses_problem_script():
    p = Problem(12, (("+", 8), ("*", 2)), "persian")
    expr = p.expression()
    assert not any(c in LATIN_DIGITS for c in expr)
    assert expr == "(۱۲+۸)*۲"
    assert p.key() == "(12+8)*2"


def test_random_problem_n_ops_and_script():
    rng = random.Random(3)
    for n_ops in range(0, 7):
        p = random_problem(rng, n_ops, "persian")
        assert p.n_ops == n_ops
        assert p.script == "persian"
        assert len(p.values()) == n_ops + 1


def test_apply_op_rejects_unknown_operation():
    with pytest.raises(ValueError, match="unknown operation"):
        apply_op(3, "/", 2)


# ------------------------------------------------------------------ scripts
def test_to_script_digits():
    assert to_script(LATIN_DIGITS, "persian") == PERSIAN_DIGITS
    assert to_script(PERSIAN_DIGITS, "latin") == LATIN_DIGITS
    assert to_script("a+b=?", "persian") == "a+b=?"
    with pytest.raises(ValueError, match="unknown script"):
        to_script("1", "arabic")


@given(st.text(alphabet=LATIN_DIGITS + PERSIAN_DIGITS + "+-*()=?: abc<>/"))
def test_script_round_trip(text):
    latin = to_script(text, "latin")
    persian = to_script(text, "persian")
    assert not any(c in PERSIAN_DIGITS for c in latin)
    assert not any(c in LATIN_DIGITS for c in persian)
    assert to_script(persian, "latin") == latin
    assert to_script(latin, "persian") == persian
    assert len(latin) == len(persian) == len(text)


@settings(max_examples=100, deadline=None)
@given(problems_strategy)
def test_key_and_split_are_script_independent(p):
    latin, persian = p.with_script("latin"), p.with_script("persian")
    assert latin.key() == persian.key() == to_script(p.expression(), "latin")
    assert is_held_out(latin) == is_held_out(persian)
    assert to_script(persian.expression(), "latin") == latin.expression()


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize("n_ops", [1, 2, 3, 5])
def test_train_and_test_splits_are_disjoint(n_ops):
    train = sample_problems(300, n_ops, split="train", seed=0)
    test = sample_problems(100, n_ops, split="test", seed=0)
    assert len(train) == 300 and len(test) == 100
    assert all(p.n_ops == n_ops for p in train + test)
    assert all(is_held_out(p) for p in test)
    assert not any(is_held_out(p) for p in train)
    assert not {p.key() for p in train} & {p.key() for p in test}


def test_split_disjoint_across_scripts_and_seeds():
    train = sample_problems(300, 2, split="train", seed=1, script="persian")
    test = sample_problems(200, 2, split="test", seed=2, script="latin")
    assert all(p.script == "persian" for p in train)
    assert not {p.key() for p in train} & {p.key() for p in test}


def test_test_split_problems_are_distinct_and_deterministic():
    a = sample_problems(150, 3, split="test", seed=5)
    b = sample_problems(150, 3, split="test", seed=5)
    assert a == b
    assert len({p.key() for p in a}) == len(a)
    c = sample_problems(150, 3, split="test", seed=6)
    assert a != c


def test_small_space_repeats_without_hanging():
    # one-operation problems: the test split may hold fewer distinct problems than asked for
    test = sample_problems(300, 1, split="test", seed=0)
    assert len(test) == 300
    assert all(is_held_out(p) and p.n_ops == 1 for p in test)


def test_sample_problems_rejects_unknown_split():
    with pytest.raises(ValueError, match="split"):
        sample_problems(3, 2, split="validation", seed=0)


def test_is_held_out_is_about_a_quarter():
    rng = random.Random(0)
    problems = {p.key(): p for p in (random_problem(rng, 3) for _ in range(4000))}
    fraction = sum(is_held_out(p) for p in problems.values()) / len(problems)
    assert 0.18 < fraction < 0.32


# ------------------------------------------------------------------ completions
def test_direct_completion():
    assert direct_completion("7") == f"{THINK}{END_THINK}{ANSWER}7{END_ANSWER}"
    assert direct_completion("7", empty_think=False) == f"{ANSWER}7{END_ANSWER}"
    assert verify(direct_completion("7"), 7).well_formed
    v = verify(direct_completion("7", empty_think=False), 7)
    assert v.correct and not v.well_formed


def _latin_pieces(trace: str) -> list[str]:
    """The '='-separated parts of a trace, in Latin digits, without spaces."""
    return [piece.replace(" ", "") for piece in to_script(trace, "latin").split("=")]


@settings(max_examples=150, deadline=None)
@given(problems_strategy, st.integers(0, 1000), st.booleans(), st.booleans())
def test_step_by_step_completion_verifies(p, seed, mixed, correction):
    text = step_by_step_completion(p, random.Random(seed), mixed=mixed, correction=correction)
    v = verify(text, p.answer)
    assert v.well_formed and v.correct
    assert v.answer_script == p.script
    assert v.thinking.startswith(p.expression())
    assert (WAIT in text) == (correction and p.n_ops > 0)


@settings(max_examples=150, deadline=None)
@given(problems_strategy, st.integers(0, 1000), st.booleans())
def test_every_part_of_a_trace_evaluates_to_the_answer(p, seed, mixed):
    """'(3+4)*2-5 = 7*2-5 = 14-5 = 9': each rewrite is a true statement about the problem."""
    text = trace_text(p, random.Random(seed), mixed=mixed)
    assert text.startswith(p.expression())
    pieces = _latin_pieces(text)
    assert len(pieces) == p.n_ops + 1
    for piece in pieces:
        assert safe_eval(piece) == p.answer, text
    if not mixed:
        assert to_script(text, p.script) == text


@settings(max_examples=150, deadline=None)
@given(problems_strategy.filter(lambda p: p.n_ops > 0), st.integers(0, 1000))
def test_correction_writes_one_wrong_rewrite_then_the_right_one(p, seed):
    text = trace_text(p, random.Random(seed), correction=True)
    assert text.count(WAIT) == 1
    pieces = [piece.strip() for piece in text.split("=")]
    corrected = [piece for piece in pieces if WAIT.strip() in piece.split()]
    assert len(corrected) == 1
    wrong, right = (part.replace(" ", "") for part in corrected[0].split(WAIT.strip()))
    wrong, right = to_script(wrong, "latin"), to_script(right, "latin")
    assert safe_eval(right) == p.answer
    assert safe_eval(wrong) != p.answer, text  # the 'mistake' really is one
    # dropping the mistake leaves exactly the plain trace
    plain = text.replace(corrected[0].split(WAIT.strip())[0].strip() + WAIT, "")
    assert plain == trace_text(p, random.Random(seed))


def test_mixed_trace_uses_both_scripts():
    p = Problem(2, (("+", 1),) * 8)
    text = trace_text(p, random.Random(0), mixed=True)
    rest = text[len(p.expression()):]
    assert any(c in LATIN_DIGITS for c in rest) and any(c in PERSIAN_DIGITS for c in rest)


def test_plain_worked_completion():
    p = Problem(3, (("+", 4), ("*", 2), ("-", 5)), "persian")
    text = plain_worked_completion(p, random.Random(0))
    assert THINK not in text and ANSWER not in text and END_THINK not in text
    assert text.startswith(p.expression())
    assert not any(c in LATIN_DIGITS for c in text)
    assert _latin_pieces(text)[-1].endswith("9")


# ------------------------------------------------------------------ facts
def test_make_facts():
    seen, unseen = make_facts(30, 20, seed=3)
    assert len(seen) == 30 and len(unseen) == 20
    assert not set(seen) & set(unseen)
    for name, value in {**seen, **unseen}.items():
        assert len(name) == 3 and name.isalpha() and name.islower()
        assert 0 <= value <= MAX_VALUE
    assert make_facts(30, 20, seed=3) == (seen, unseen)
    with pytest.raises(ValueError, match="distinct names"):
        make_facts(5000, 5000)


def test_fact_completion():
    assert fact_completion("zig", 42, "latin", think=True) == \
        f"{THINK}zig=42{END_THINK}{ANSWER}42{END_ANSWER}"
    assert verify(fact_completion("zig", 42, "persian", think=False), 42).correct
    assert verify(fact_completion("zig", 42, "persian", think=True), 42).answer_script == "persian"
