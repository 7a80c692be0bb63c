"""The pretraining corpus: kinds, correctness, no test leakage, the HF dataset view."""

from __future__ import annotations

import random
import re

import pytest
from helpers import safe_eval

from ch01_what_is_reasoning.arithmetic import (
    Problem,
    is_held_out,
    make_facts,
    sample_problems,
    solve,
    to_script,
)
from ch01_what_is_reasoning.corpus import CorpusMix, Example, to_hf_dataset, training_examples
from ch01_what_is_reasoning.verifier import verify


@pytest.fixture(scope="module")
def examples():
    return training_examples(3000, seed=0)


def test_count_kinds_and_determinism(examples):
    assert len(examples) == 3000
    assert all(isinstance(e, Example) for e in examples)
    kinds = {e.kind for e in examples}
    assert {"direct", "worked", "worked_plain", "drill", "rewrite_drill", "fact"} <= kinds
    assert kinds <= {"direct", "worked", "worked_mixed", "worked_correction", "worked_plain",
                     "drill", "rewrite_drill", "fact"}
    assert training_examples(50, seed=0) == examples[:50]
    assert training_examples(50, seed=1) != examples[:50]


def test_every_document_tokenizes(examples, tok):
    for e in examples:
        tok.encode(e.prompt + e.completion, bos=True, eos=True)  # no UnknownCharacterError


def test_templated_answers_are_correct(examples):
    for e in examples:
        if e.kind in ("direct", "worked", "worked_mixed", "worked_correction", "fact"):
            v = verify(e.completion, int(to_script(e.answer, "latin")))
            assert v.correct, e
            assert v.has_answer


def test_problem_prompts_match_their_answers(examples):
    """Parse each problem prompt back (digits only via to_script) and check the answer."""
    for e in examples:
        if e.kind in ("direct", "worked", "worked_mixed", "worked_correction", "worked_plain"):
            assert e.prompt.endswith("?")
            assert safe_eval(to_script(e.prompt[:-1], "latin")) == int(to_script(e.answer, "latin"))


def _prompt_to_problem_key(prompt: str) -> str:
    return to_script(prompt[:-1], "latin")


def test_held_out_problems_never_appear_as_prompts(examples):
    train_keys = {_prompt_to_problem_key(e.prompt) for e in examples
                  if e.kind not in ("drill", "fact")}
    for n_ops in range(1, 7):
        test_keys = {p.key() for p in sample_problems(200, n_ops, split="test", seed=0)}
        assert not train_keys & test_keys


_STEP = re.compile(r"([0-9۰-۹]+[-+*][0-9۰-۹]+)\s*=")


def _drill_step_keys(examples) -> set[str]:
    """The one-step problems ('47+8') stated in drill documents, in Latin digits."""
    keys = set()
    for e in examples:
        if e.kind == "drill":
            found = _STEP.findall(e.completion)
            assert found, e
            keys.update(to_script(k, "latin") for k in found)
    return keys


_STEP_WITH_RESULT = re.compile(r"([0-9۰-۹]+[-+*][0-9۰-۹]+)\s*=\s*([0-9۰-۹]+)")


def test_drill_steps_are_true(examples):
    n = 0
    for e in examples:
        if e.kind == "drill":
            for left, right in _STEP_WITH_RESULT.findall(e.completion):
                assert safe_eval(to_script(left, "latin")) == int(to_script(right, "latin")), e
                n += 1
    assert n > 100


def test_drills_practise_every_step_but_never_as_a_question(examples):
    """By design a drill may hold the step of a held-out one-operation problem (steps are
    skills), but never in the question form '<problem>?' that the test asks."""
    test_keys = {p.key() for p in sample_problems(300, 1, split="test", seed=0)}
    assert _drill_step_keys(examples) & test_keys, "drills should cover every single step"
    for e in examples:
        if e.kind == "drill":
            assert "?" not in e.completion and e.prompt == ""


def test_rewrite_drills_are_true_single_rewrites_of_training_problems(examples):
    n = 0
    for e in examples:
        if e.kind != "rewrite_drill":
            continue
        assert e.prompt == "" and "?" not in e.completion
        for line in e.completion.split(", "):
            left, right = line.split(" = ")
            assert solve(left) == solve(right), line
            # One operation evaluated, the rest copied: the right side is one step shorter.
            assert len(re.findall(r"[-+*]", right)) == len(re.findall(r"[-+*]", left)) - 1
            assert not is_held_out(_problem_of(to_script(left, "latin"))), line
            n += 1
    assert n > 50


def _problem_of(expression: str) -> Problem:
    """Parse a chain expression like '(3+4)*2-5' back into a Problem."""
    numbers = [int(x) for x in re.findall(r"[0-9]+", expression)]
    ops = re.findall(r"[-+*]", expression)
    return Problem(numbers[0], tuple(zip(ops, numbers[1:])))


def test_most_direct_answers_have_an_empty_think_block(examples):
    """The base's greedy habit must be 'empty think, then answer' (chapter 2 relies on it),
    while '<answer>' alone stays in the corpus (chapter 1's direct style starts with it)."""
    direct = [e for e in examples if e.kind == "direct"]
    empty = sum(e.completion.startswith("<think></think><answer>") for e in direct)
    alone = sum(e.completion.startswith("<answer>") for e in direct)
    assert empty + alone == len(direct)
    assert 0.75 <= empty / len(direct) <= 0.85 and alone > 0


def test_facts_only_seen(examples):
    seen, unseen = make_facts()
    fact_docs = [e for e in examples if e.kind == "fact"]
    assert fact_docs
    for e in fact_docs:
        name = e.prompt[:-1]
        assert name in seen and name not in unseen
        assert int(e.answer) == seen[name]


def test_custom_mix_and_facts():
    mix = CorpusMix(max_ops=2, worked_fraction=1.0, template_fraction=1.0, drill_fraction=0.0,
                    fact_fraction=0.0, persian_fraction=1.0, mixed_fraction=0.0,
                    correction_fraction=0.0)
    ex = training_examples(200, seed=3, mix=mix, seen_facts={})
    assert {e.kind for e in ex} == {"worked"}
    for e in ex:
        assert not any(c in "0123456789" for c in e.prompt + e.completion)
        assert 1 <= sum(e.prompt.count(op) for op in "+-*") <= 2


def test_to_hf_dataset_columns(examples):
    ds = to_hf_dataset(examples[:20])
    assert set(ds.column_names) == {"prompt", "completion", "answer", "kind"}
    assert len(ds) == 20
    assert ds[3]["completion"] == examples[3].completion
    assert ds["kind"] == [e.kind for e in examples[:20]]


def test_corpus_differs_by_seed_not_by_random_module_state():
    random.seed(1)
    a = training_examples(30, seed=4)
    random.seed(2)
    assert training_examples(30, seed=4) == a
