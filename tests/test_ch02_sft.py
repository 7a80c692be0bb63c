"""SFT, cold-start data, knowledge data and rejection sampling."""

import random

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import WAIT, is_held_out, make_facts, solve
from ch01_what_is_reasoning.evaluation import Answers
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline import sft as sft_module
from ch02_r1_pipeline.rewards import consistency_reward, digit_script, is_mixed
from ch02_r1_pipeline.sft import (
    cold_start_traces,
    knowledge_examples,
    rejection_sample,
    sft,
    to_dataset,
)
from ch02_r1_pipeline.tasks import random_train_problem


def test_sft_trains_on_completion_tokens_only(tok, tiny_model, monkeypatch):
    seen = {}

    def spy(model, batches, **kw):
        seen["batches"] = batches
        return "result"

    monkeypatch.setattr(sft_module, "train", spy)
    assert sft(tiny_model, [("3+4?", "<answer>7</answer>")], tok, steps=1, batch_size=1,
               lr=1e-3) == "result"
    x, y, mask, _ = seen["batches"].sample(1, torch.Generator().manual_seed(0))
    n_prompt = len(tok.encode("3+4?", bos=True))
    # Target t is token t+1: targets inside the prompt are masked, every completion token
    # (and the end token) is trained on.
    assert not mask[0, : n_prompt - 1].any()
    assert mask[0, n_prompt - 1:].all()
    assert tok.decode(y[0, mask[0]].tolist()) == "<answer>7</answer>"


def test_sft_refuses_empty_data(tok, tiny_model):
    with pytest.raises(ValueError, match="at least one"):
        sft(tiny_model, [], tok, steps=1, batch_size=1, lr=1e-3)


def test_cold_start_traces_are_clean_correct_and_in_the_prompt_script():
    pairs = cold_start_traces(200)
    assert len(pairs) == 200
    for prompt, completion in pairs:
        v = verify(completion)
        assert v.well_formed and v.thinking
        assert not is_mixed(completion) and WAIT not in completion
        assert consistency_reward([completion], prompts=[prompt]) == [1.0]
    assert {digit_script(p) for p, _ in pairs} == {"latin", "persian"}


def test_knowledge_examples_answer_directly_and_correctly():
    pairs = knowledge_examples(40)
    assert len(pairs) == 40
    seen, _ = make_facts()
    for prompt, completion in pairs:
        expected = seen[prompt[:-1]] if prompt[:-1].isalpha() else solve(prompt)
        v = verify(completion, expected)
        assert v.well_formed and v.thinking == "" and v.correct, (prompt, completion)
    assert sum(p[:-1].isalpha() for p, _ in pairs) == 20  # half facts, half one-step questions


def test_training_problems_are_never_held_out():
    rng = random.Random(0)
    assert not any(is_held_out(random_train_problem(rng)) for _ in range(500))


def _fake_answer(completions):
    def answer(model, tokenizer, prompts, expected, style, **kw):
        texts = [completions[i % len(completions)] for i in range(len(prompts))]
        return Answers(list(prompts), texts, [verify(t, e) for t, e in zip(texts, expected)],
                       [len(t) for t in texts], 0.0)
    return answer


class _Problem:
    def __init__(self, prompt, answer):
        self._prompt, self.answer = prompt, answer

    def prompt(self):
        return self._prompt


def test_rejection_sampling_keeps_correct_consistent_thinking_only(monkeypatch):
    completions = ["<think>3+4 = 7</think><answer>7</answer>",       # kept
                   "<think>3+4 = ۷</think><answer>7</answer>",       # correct but mixed
                   "<think>3+4 = 8</think><answer>8</answer>",       # wrong
                   "<think></think><answer>7</answer>",              # correct, no thinking
                   "<think>3+4 = 7<answer>7</answer>"]               # malformed
    monkeypatch.setattr(sft_module, "answer", _fake_answer(completions))
    tok = CharTokenizer()
    out = rejection_sample(None, tok, [_Problem("3+4?", 7)], k=5, progress=False)
    assert out["kept"] == [("3+4?", completions[0])]
    assert (out["sampled"], out["correct"], out["consistent"]) == (5, 2, 1)
    # what it spent: every prompt read once per sample, every sampled token
    assert out["prompt_tokens"] == 5 * len(tok.encode("3+4?", bos=True))
    assert out["generated_tokens"] == sum(map(len, completions))
    loose = rejection_sample(None, tok, [_Problem("3+4?", 7)], k=5, progress=False,
                             require_consistent=False)
    assert [c for _, c in loose["kept"]] == completions[:2]


def test_to_dataset_is_a_hugging_face_dataset():
    data = to_dataset([("3+4?", "<think></think><answer>7</answer>")], "knowledge")
    assert data.column_names == ["prompt", "completion", "kind"]
    assert data[0]["kind"] == "knowledge"
