"""Counting self-corrections (aha.py) and the slip world's RL (slip_world.py)."""

import random

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import (
    WAIT,
    Problem,
    random_problem,
    step_by_step_completion,
    to_script,
)
from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch02_r1_pipeline.aha import correction_rates, next_rewrite, parse_expression, read_corrections
from ch02_r1_pipeline.chapter import aha_summary, aha_windows, longest_rise
from ch02_r1_pipeline.grpo import GRPOConfig
from ch02_r1_pipeline.slip_world import SlipTrainer, planted_prefix, slip_prompts, thinking_start


@pytest.mark.parametrize("seed", range(30))
def test_parse_expression_inverts_the_worlds_expressions(seed):
    rng = random.Random(seed)
    p = random_problem(rng, rng.randint(1, 6), rng.choice(["latin", "persian"]))
    parsed = parse_expression(p.expression())
    assert parsed is not None and parsed.values() == p.values()
    assert next_rewrite(p.expression()) == to_script(p.rewrites()[1], "latin")


@pytest.mark.parametrize("text", ["", "abc", "3+", "+3", "3+4 wait", "12345+1", "3 + 4"])
def test_parse_expression_refuses_what_is_not_one(text):
    assert parse_expression(text) is None


def test_next_rewrite_of_a_number_is_none():
    assert next_rewrite("9") is None and next_rewrite("x") is None


def test_clean_traces_have_no_corrections_and_no_wrong_steps():
    rng = random.Random(0)
    for _ in range(50):
        p = random_problem(rng, rng.randint(1, 5), rng.choice(["latin", "persian"]))
        r = read_corrections(step_by_step_completion(p, rng))
        assert (r.steps, r.wrong_steps, r.corrections, r.productive) == (p.n_ops, 0, 0, 0)


def test_the_corpus_corrected_traces_are_productive():
    rng = random.Random(1)
    for _ in range(50):
        p = random_problem(rng, rng.randint(1, 5), "latin")
        r = read_corrections(step_by_step_completion(p, rng, correction=True))
        assert (r.corrections, r.productive, r.wrong_steps) == (1, 1, 0)


@pytest.mark.parametrize("thinking, expected", [
    # a wrong step, left alone: one wrong step, no correction
    ("(3+4)*2-5 = 7*2-5 = 15-5 = 10", (3, 1, 0, 0)),
    # a right step "corrected" into the same right step: a correction, not productive
    ("(3+4)*2-5 = 7*2-5 = 14-5 wait 14-5 = 9", (3, 0, 1, 0)),
    # a right step "corrected" into a wrong one: not productive, and the step ends wrong
    ("(3+4)*2-5 = 7*2-5 wait 8*2-5 = 16-5 = 11", (3, 1, 1, 0)),
    # the fix of a wrong step: productive; later steps judged from what was written
    ("(3+4)*2-5 = 8*2-5 wait 7*2-5 = 14-5 = 9", (3, 0, 1, 1)),
    # a wrong "fix" of a wrong step: not productive
    ("(3+4)*2-5 = 8*2-5 wait 6*2-5 = 12-5 = 7", (3, 1, 1, 0)),
])
def test_read_corrections_cases(thinking, expected):
    r = read_corrections(f"<think>{thinking}</think><answer>1</answer>")
    assert (r.steps, r.wrong_steps, r.corrections, r.productive) == expected


def test_read_corrections_never_raises_on_garbage():
    for text in ["", "<think></think>", "<think> wait  wait = = </think>", "<think>" + "=" * 500,
                 "<think>(((= 3 wait ))</think><answer>x</answer>"]:
        read_corrections(text)


def test_correction_rates_are_shares():
    texts = ["<think>1+1 = 3 wait 2</think><answer>2</answer>",
             "<think>1+1 = 2 wait 2</think><answer>2</answer>",
             "<think>1+1 = 2</think><answer>2</answer>", "no thinking"]
    rates = correction_rates(texts)
    assert rates["self_correction_rate"] == 0.5
    assert rates["productive_correction_rate"] == 0.25
    assert rates["wrong_step_rate"] == 0.0
    assert correction_rates([])["self_correction_rate"] == 0.0


# ------------------------------------------------------------ the slip world
def test_planted_prefix_ends_in_a_wrong_step():
    rng = random.Random(2)
    for _ in range(50):
        p = random_problem(rng, rng.randint(1, 5), rng.choice(["latin", "persian"]))
        prefix = planted_prefix(p, rng)
        assert prefix.startswith("<think>") and WAIT not in prefix
        r = read_corrections(prefix + "</think>")
        assert r.wrong_steps == 1 and r.corrections == 0
    with pytest.raises(ValueError, match="at least one operation"):
        planted_prefix(Problem(3, ()), rng)


def test_a_fix_after_the_planted_prefix_is_a_productive_correction():
    rng = random.Random(3)
    for prompt, answer in slip_prompts(rng, 20):
        start = thinking_start(prompt)
        problem = parse_expression(prompt[: prompt.index("?")])
        k = len(start.split(" = ")) - 1            # the planted wrong step is rewrite k
        fix = " = ".join(problem.rewrites()[k:])   # redo it, then go on
        r = read_corrections(f"{start}{WAIT}{fix}</think><answer>{answer}</answer>")
        assert (r.productive, r.wrong_steps) == (1, 0), (start, fix)
        go_on = " = ".join([""] + problem.rewrites()[k + 1:])   # take the slip as given
        assert read_corrections(f"{start}{go_on}</think>").productive == 0


def _continuation(prompt: str, fix: bool) -> str:
    """What a model that fixes the planted slip (or takes it as given) would write next."""
    start = thinking_start(prompt)
    problem = parse_expression(prompt[: prompt.index("?")])
    k = len(start.split(" = ")) - 1
    if fix:
        thinking = WAIT + " = ".join(problem.rewrites()[k:])
        answer = problem.answer
    else:
        slipped = parse_expression(start.split(" = ")[-1])
        thinking = "".join(f" = {r}" for r in slipped.rewrites()[1:])
        answer = slipped.answer
    return f"{thinking}</think><answer>{answer}</answer>"


@pytest.mark.parametrize("fix", [True, False])
def test_slip_trainer_rewards_see_the_planted_start_and_the_continuation(fix):
    tok = CharTokenizer()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=160, n_layer=1, n_head=1, n_embd=16))
    cfg = GRPOConfig(steps=2, group_size=2, prompts_per_step=3, max_new_tokens=80, seed=0)

    class Scripted(SlipTrainer):   # the model's writing replaced by a script
        def sample(self, prompt_ids):
            texts = [_continuation(tok.decode(p), fix) for p in prompt_ids]
            return [tok.encode(t) for t in texts], [True] * len(texts)

    trainer = Scripted(model, tok, slip_prompts, cfg)
    trainer.train(progress=False)
    assert all(t.startswith("<think>") for t in trainer.last_texts)
    for h in trainer.history:
        assert h["accuracy"] == h["format_rate"] == 1.0 if fix else h["accuracy"] < 1.0
        assert h["productive_correction_rate"] == (1.0 if fix else 0.0)
        assert h["self_correction_rate"] == (1.0 if fix else 0.0)


def test_aha_windows_average_the_rollout_log():
    history = [{"step": i, "accuracy": i / 10, "mean_response_tokens": float(i),
                "self_correction_rate": 0.5, "productive_correction_rate": 0.1 * (i > 2),
                "wrong_step_rate": 0.2}
               for i in range(5)]
    w = aha_windows({"history": history}, every=2)
    assert w["step"] == [0, 2, 4]
    assert w["accuracy"] == pytest.approx([0.05, 0.25, 0.4])
    assert w["productive_correction_rate"] == pytest.approx([0.0, 0.05, 0.1])
    assert w["wrong_step_rate"] == pytest.approx([0.2, 0.2, 0.2])


def test_aha_windows_refuse_a_log_without_the_correction_rates():
    # a GRPO stage cached before the course logged self-corrections: say to retrain it, do not
    # draw its curves as zeros
    history = [{"step": i, "accuracy": 0.5, "mean_response_tokens": 10.0} for i in range(4)]
    with pytest.raises(ValueError, match=r"r1_zero: .*self_correction_rate.*delete runs/ch02/r1_zero.pt"):
        aha_windows({"history": history, "stage": "r1_zero"}, every=2)


@pytest.mark.parametrize("values, expected", [([], 0), ([3], 1), ([3, 2, 1], 1), ([1, 2, 2, 3], 2),
                                              ([5, 1, 2, 3, 4, 0, 9], 4)])
def test_longest_rise_counts_points_in_a_row(values, expected):
    assert longest_rise(values) == expected


def test_aha_summary_reads_the_first_and_last_ten_steps():
    aha = {"step": [0, 5, 10, 15, 20, 25], "accuracy": [0.0, 0.2, 0.4, 0.5, 0.6, 0.8],
           "mean_response_tokens": [10, 11, 12, 13, 12, 14],
           "self_correction_rate": [0.0] * 6, "wrong_step_rate": [0.1] * 6,
           "productive_correction_rate": [0.01, 0.03, 0.1, 0.2, 0.3, 0.5]}
    a = aha_summary(aha)
    assert a["productive_correction_rate_first"] == pytest.approx(0.02)
    assert a["productive_correction_rate_last"] == pytest.approx(0.4)
    assert a["accuracy_last"] == pytest.approx(0.7) and a["length_rising_points"] == 4
