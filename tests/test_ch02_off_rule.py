"""The off-rule probe (ch02_r1_pipeline/off_rule.py): questions no training example labelled,
and what the probe computes from a model's answers."""

import json
import random

import pytest

from ch01_what_is_reasoning.arithmetic import END_THINK, THINK, fact_prompt, make_facts, solve
from ch01_what_is_reasoning.evaluation import STYLE_PREFIX, Answers
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline import off_rule
from ch02_r1_pipeline.off_rule import off_rule_questions, off_rule_table, probe
from ch02_r1_pipeline.sft import knowledge_examples
from ch02_r1_pipeline.tasks import rl_prompts


def test_bare_numbers_are_their_own_answers_in_both_scripts():
    prompts, answers = off_rule_questions()["bare_number"]
    assert len(prompts) == len(set(prompts)) == 38
    assert all(solve(p) == a for p, a in zip(prompts, answers))
    assert not any(op in p for p in prompts for op in "+-*")
    assert any(p.startswith("۱") for p in prompts) and "1?" in prompts


def test_no_training_example_labels_an_off_rule_question():
    """Neither the SFT set's direct answers nor the RL prompts (any length) ask one of them."""
    questions = off_rule_questions()
    asked = {p for p, _ in knowledge_examples(3000, seed=0)}
    rng = random.Random(0)
    for ops in ((1,), (2, 3, 4, 5, 6)):
        asked |= {p for p, _ in rl_prompts(rng, 2000, ops)}
    for kind, (prompts, _) in questions.items():
        assert not asked & set(prompts), kind
    # the seen facts are labelled (the rule); the unseen ones are the same form, never asked
    seen, unseen = make_facts()
    assert {fact_prompt(n) for n in seen} <= asked
    assert questions["unseen_fact"] == ([fact_prompt(n) for n in unseen], list(unseen.values()))


def _fake_answer(replies):
    """An `answer` whose model replies `replies[style](prompt)`, verified as the real one is."""
    def fake(model, tokenizer, prompts, expected, style, **kw):
        completions = [STYLE_PREFIX[style] + replies[style](p) for p in prompts]
        return Answers(list(prompts), completions,
                       [verify(c, e) for c, e in zip(completions, expected)],
                       [len(c) for c in completions], 0.0)
    return fake


def test_probe_measures_the_choice_and_what_thinking_pays(monkeypatch):
    """A model that thinks when free and gets everything wrong that way, answers right when
    forced direct (only after the empty think block the probe appends), and right on half the
    questions when forced to think: thinks 100%, pays = 50% - 100%."""
    questions = {"bare_number": (["3?", "4?", "5?", "6?"], [3, 4, 5, 6])}
    value = lambda p: p.split("?")[0]   # noqa: E731
    replies = {
        "free": lambda p: f"{THINK}{value(p)}+1{END_THINK}<answer>0</answer>",
        "direct": lambda p: f"{value(p) if p.endswith(THINK + END_THINK) else 0}</answer>",
        "step_by_step": lambda p: (f"{value(p)}{END_THINK}<answer>"
                                   f"{value(p) if value(p) in '35' else 0}</answer>"),
    }
    monkeypatch.setattr(off_rule, "answer", _fake_answer(replies))
    m = probe(None, None, questions)["bare_number"]
    assert m["thinking_rate"] == 1.0 and m["n_questions"] == 4
    assert m["accuracy"] == {"chosen": 0.0, "direct": 1.0, "think": 0.5}
    assert m["thinking_pays"] == pytest.approx(-0.5)
    table = off_rule_table({"r1": {"bare_number": m}})
    assert "r1" in table and "100%" in table and "-50.0" in table


def test_an_empty_think_block_is_not_thinking(monkeypatch):
    questions = {"unseen_fact": (["kib?", "dat?"], [1, 2])}
    replies = {style: (lambda p: f"{THINK}{END_THINK}<answer>1</answer>") for style in ("free",)}
    replies["direct"] = lambda p: "1</answer>"
    replies["step_by_step"] = lambda p: f"x{END_THINK}<answer>2</answer>"
    monkeypatch.setattr(off_rule, "answer", _fake_answer(replies))
    m = probe(None, None, questions)["unseen_fact"]
    assert m["thinking_rate"] == 0.0 and m["accuracy"]["chosen"] == 0.5
    json.dumps(m, allow_nan=False)
