"""Chapter 3's cost accounting and comparison harness, on the tiny chapter 2 pipeline.

One tiny pipeline is trained (seconds) into a temporary folder and shared by the module; the
hand-made checks use fake prompts, fake tokenizers and hand-made sample pools whose answers
and token counts are known.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from dataclasses import dataclass

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
from ch01_what_is_reasoning.runtime import get_preset
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer
from ch02_r1_pipeline.pipeline import STAGES, Pipeline
from ch02_r1_pipeline.tasks import held_out_problems, rl_prompts
from ch03_four_methods import harness as harness_module
from ch03_four_methods.harness import Entry, Harness, compare
from ch03_four_methods.scaling import SamplePool
from ch03_four_methods.training_costs import (
    DEPENDS_ON,
    ancestors,
    grpo_flops,
    rejection_sampling_flops,
    training_costs,
)

POOL = 4
ROW_KEYS = {"method", "model", "strategy", "accuracy", "train_flops", "inference_flops_per_problem"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    p = Pipeline(get_preset("tiny"), torch.device("cpu"), tmp_path_factory.mktemp("runs"),
                 progress=False)
    p.run_all()
    return p


@pytest.fixture(scope="module")
def costs(pipeline):
    return training_costs(pipeline)


@pytest.fixture(scope="module")
def problems():
    return held_out_problems(6)


@pytest.fixture(scope="module")
def harness(pipeline, problems):
    """Base model only, a pool of 4 samples: shared so the pool is drawn once."""
    return Harness({"base": pipeline.model("base")}, pipeline.tokenizer, problems,
                   {"base": 123.0}, pool_size=POOL, beam={"beam_width": 2, "expansions": 2})


def _prompt_tokens(tokenizer, problems) -> list[int]:
    return [len(tokenizer.encode(p.prompt(), bos=True)) for p in problems]


# ------------------------------------------------------------ training_costs: the graph
def test_ancestors_follow_the_r1_recipe():
    assert ancestors("base") == set() and ancestors("student_base") == set()
    assert ancestors("r1") == {"base", "cold_start", "r1_reasoning_rl", "rejection_sampling",
                               "r1_sft"}
    assert ancestors("distill") == {"student_base", "rejection_sampling", "r1_reasoning_rl",
                                    "cold_start", "base"}
    assert "r1" not in ancestors("distill") and "r1_sft" not in ancestors("distill")
    assert ancestors("student_rl") == {"student_base"}
    assert ancestors("r1_zero") == {"base"}


def test_every_pipeline_stage_has_a_cost_rule():
    assert set(DEPENDS_ON) == set(STAGES)
    for stage, parents in DEPENDS_ON.items():
        assert set(parents) <= set(STAGES), stage


# ------------------------------------------------------------ training_costs on the pipeline
def test_totals_are_own_plus_each_ancestor_once(costs):
    own = {s: c["own"] for s, c in costs.items()}
    assert set(costs) == set(STAGES)
    assert all(own[s] > 0 for s in own), own
    assert costs["base"]["total"] == own["base"]
    assert costs["student_base"]["total"] == own["student_base"]
    # base is reached twice from r1 (via r1_sft and via cold_start): charged once.
    r1 = ("r1", "r1_sft", "rejection_sampling", "r1_reasoning_rl", "cold_start", "base")
    assert costs["r1"]["total"] == pytest.approx(sum(own[s] for s in r1), rel=1e-12)
    distill = ("distill", "student_base", "rejection_sampling", "r1_reasoning_rl", "cold_start",
               "base")
    assert costs["distill"]["total"] == pytest.approx(sum(own[s] for s in distill), rel=1e-12)
    assert costs["student_rl"]["total"] == pytest.approx(own["student_rl"] + own["student_base"])
    # the teacher's bill makes distillation dearer than RL on the same student
    assert costs["distill"]["total"] > costs["student_rl"]["total"]


def test_training_costs_can_be_restricted_to_some_stages(pipeline, costs):
    some = training_costs(pipeline, stages=("r1", "base"))
    assert set(some) == {"r1", "base"}
    assert some["r1"] == costs["r1"] and some["base"] == costs["base"]


def test_pretraining_and_sft_cost_six_n_per_token(pipeline, costs):
    for stage in ("base", "student_base", "cold_start", "r1_sft", "distill"):
        n = pipeline.model(stage).num_params()
        tokens = pipeline.run(stage)["tokens"]
        assert tokens > 0
        assert costs[stage]["own"] == 6 * n * tokens, stage
    assert pipeline.model("student_base").num_params() < pipeline.model("base").num_params()


def test_grpo_stages_are_costed_from_their_own_log(pipeline, costs):
    for stage in ("r1_zero", "r1_zero_consistency", "r1_reasoning_rl", "r1", "student_rl"):
        info = pipeline.run(stage)
        n = pipeline.model(stage).num_params()
        assert costs[stage]["own"] == pytest.approx(grpo_flops(n, info, pipeline.tokenizer)), stage
        # at least the generation of every rollout's completion at 2N per token
        cfg = info["config"]
        generated = sum(h["mean_response_tokens"] for h in info["history"]) \
            * cfg["prompts_per_step"] * cfg["group_size"]
        assert costs[stage]["own"] > 2 * n * generated


def test_rejection_sampling_is_charged_to_the_teacher(pipeline, costs):
    teacher = pipeline.model("r1_reasoning_rl").num_params()
    info, teacher_info = pipeline.run("rejection_sampling"), pipeline.run("r1_reasoning_rl")
    assert costs["rejection_sampling"]["own"] == pytest.approx(
        rejection_sampling_flops(teacher, info, teacher_info, pipeline.tokenizer))
    doubled = rejection_sampling_flops(teacher, {**info, "sampled": 2 * info["sampled"]},
                                       teacher_info, pipeline.tokenizer)
    assert doubled == pytest.approx(2 * costs["rejection_sampling"]["own"])
    length = teacher_info["eval"]["mean_response_tokens"]
    longer = {**teacher_info, "eval": {**teacher_info["eval"], "mean_response_tokens": length + 10}}
    extra = rejection_sampling_flops(teacher, info, longer, pipeline.tokenizer) \
        - costs["rejection_sampling"]["own"]
    assert extra == pytest.approx(2 * teacher * info["sampled"] * 10)


# ------------------------------------------------------------ grpo_flops by hand
class LengthTokenizer:
    """encode(text, bos=True) -> one token per character plus the BOS."""

    def encode(self, text, bos=False):
        return [0] * (len(text) + bos)


def fixed_prompts(rng, n):
    return [("abcd", 1), ("ab", 2)][:n]   # 5 and 3 tokens with BOS: mean 4


def _info(steps, mu=1, beta=0.0, seed=0, prompts_per_step=2, group_size=3):
    return {"config": {"seed": seed, "prompts_per_step": prompts_per_step,
                       "group_size": group_size, "mu": mu, "beta": beta},
            "history": [{"mean_response_tokens": r, "kept_fraction": k} for r, k in steps]}


def test_grpo_flops_by_hand():
    n = 1000
    # 6 rollouts x (4 prompt + 10 completion) = 84 tokens: generated at 2N, half kept at 6N
    got = grpo_flops(n, _info([(10, 0.5)]), LengthTokenizer(), fixed_prompts)
    assert got == pytest.approx(2 * n * 84 + 6 * n * 42)
    two_steps = grpo_flops(n, _info([(10, 0.5), (10, 0.5)]), LengthTokenizer(), fixed_prompts)
    assert two_steps == pytest.approx(2 * got)


def test_grpo_flops_grows_with_kept_fraction_and_response_length():
    tok, n = LengthTokenizer(), 1000
    base = grpo_flops(n, _info([(10, 0.5)]), tok, fixed_prompts)
    assert grpo_flops(n, _info([(10, 1.0)]), tok, fixed_prompts) > base
    assert grpo_flops(n, _info([(10, 0.0)]), tok, fixed_prompts) < base
    assert grpo_flops(n, _info([(20, 0.5)]), tok, fixed_prompts) > base
    # nothing kept: generation only
    assert grpo_flops(n, _info([(10, 0.0)]), tok, fixed_prompts) == pytest.approx(2 * n * 84)


def test_grpo_flops_counts_extra_passes_for_mu_and_beta():
    tok, n, kept_tokens = LengthTokenizer(), 1000, 42
    generation = 2 * n * 84
    mu1 = grpo_flops(n, _info([(10, 0.5)]), tok, fixed_prompts)
    mu2 = grpo_flops(n, _info([(10, 0.5)], mu=2), tok, fixed_prompts)
    kl = grpo_flops(n, _info([(10, 0.5)], beta=0.04), tok, fixed_prompts)
    both = grpo_flops(n, _info([(10, 0.5)], mu=2, beta=0.04), tok, fixed_prompts)
    assert mu1 - generation == pytest.approx(6 * n * kept_tokens)
    # mu=2: two forward+backward passes plus one forward for the old log-probs
    assert mu2 - generation == pytest.approx((12 + 2) * n * kept_tokens)
    # beta != 0: one forward of the reference model
    assert kl - generation == pytest.approx((6 + 2) * n * kept_tokens)
    assert both - generation == pytest.approx((12 + 2 + 2) * n * kept_tokens)


def test_grpo_flops_replays_the_seeded_prompt_stream():
    def random_lengths(rng, n):
        return [("x" * rng.randint(1, 60), 0) for _ in range(n)]

    tok, n = LengthTokenizer(), 1000
    steps = [(10, 0.5), (7, 1.0), (3, 0.0)]

    def by_hand(seed):
        rng, total = random.Random(seed), 0.0
        for response, kept in steps:
            lengths = [len(p) + 1 for p, _ in random_lengths(rng, 2)]
            tokens = 6 * (sum(lengths) / 2 + response)
            total += 2 * n * tokens + 6 * n * tokens * kept
        return total

    for seed in (0, 1):
        assert grpo_flops(n, _info(steps, seed=seed), tok, random_lengths) == pytest.approx(by_hand(seed))
    assert by_hand(0) != pytest.approx(by_hand(1))


def test_grpo_flops_sees_the_prompts_the_trainer_saw(pipeline):
    drawn, replayed = [], []

    def recording(into):
        def sample(rng, n):
            batch = rl_prompts(rng, n)
            into.append(batch)
            return batch
        return sample

    cfg = GRPOConfig(steps=3, prompts_per_step=2, group_size=2, max_new_tokens=6, seed=11)
    trainer = GRPOTrainer(copy.deepcopy(pipeline.model("base")).train(), pipeline.tokenizer,
                          recording(drawn), cfg)
    trainer.train(progress=False)
    info = {"config": dataclasses.asdict(cfg), "history": trainer.history}
    assert grpo_flops(100, info, pipeline.tokenizer, recording(replayed)) > 0
    assert replayed == drawn and len(drawn) == 3


# ------------------------------------------------------------ harness: errors and plumbing
@pytest.mark.parametrize("strategy", ["majority@0", "majority@5", "best_of_n_verifier@two",
                                      "majority@", "majority", "best_of_n_verifier@-1"])
def test_bad_sample_counts_are_refused_with_the_limits(harness, strategy):
    with pytest.raises(ValueError, match=r"whole number >= 1 and at most 4 \(the pool size\)"):
        harness.outcome("base", strategy)


@pytest.mark.parametrize("strategy", ["budget@x", "budget@-8", "budget"])
def test_bad_budgets_are_refused(harness, strategy):
    with pytest.raises(ValueError, match="whole number >= 0"):
        harness.outcome("base", strategy)


def test_unknown_strategy_and_model_are_refused(harness):
    with pytest.raises(ValueError, match="unknown strategy 'sampling@3'.*majority@N"):
        harness.outcome("base", "sampling@3")
    with pytest.raises(ValueError, match="no model called 'gpt5'.*'base'"):
        harness.outcome("gpt5", "greedy")
    with pytest.raises(ValueError, match="no model called"):
        harness.row(Entry("pure RL", "r1_zero", "greedy"))


def test_loader_callables_are_loaded_once_and_lazily(pipeline, problems):
    calls = []

    def load():
        calls.append(1)
        return pipeline.model("base")

    h = Harness({"base": load, "never": lambda: pytest.fail("loaded a model nobody asked for")},
                pipeline.tokenizer, problems[:2], {"base": 1.0}, pool_size=2)
    assert calls == []
    h.row(Entry("none", "base", "greedy"))
    h.row(Entry("inference-time scaling", "base", "majority@2"))
    h.scaling("base", [1, 2])
    assert calls == [1]
    assert h.model("base") is pipeline.model("base")


def test_a_loaded_model_is_used_as_is_not_called(pipeline, problems):
    model = pipeline.model("base")   # an nn.Module is callable too: it must not be "loaded"
    h = Harness({"base": model}, pipeline.tokenizer, problems[:2], {"base": 1.0})
    assert h.model("base") is model


# ------------------------------------------------------------ harness on the tiny base model
def test_a_row_has_the_table_keys_and_charges_training(harness):
    row = harness.row(Entry("none", "base", "greedy"))
    assert ROW_KEYS <= set(row)
    assert row["method"] == "none" and row["model"] == "base" and row["strategy"] == "greedy"
    assert 0.0 <= row["accuracy"] <= 1.0
    assert row["train_flops"] == 123.0
    assert row["inference_flops_per_problem"] > 0


def test_greedy_agrees_with_chapter_2s_evaluation(pipeline):
    """On chapter 2's test set, the greedy row reproduces the stage's own score and length."""
    h = Harness({"base": pipeline.model("base")}, pipeline.tokenizer, pipeline.test, {"base": 1.0})
    row = h.row(Entry("none", "base", "greedy"))
    ev = pipeline.run("base")["eval"]
    assert row["accuracy"] == pytest.approx(ev["accuracy"])
    prompt = sum(_prompt_tokens(pipeline.tokenizer, pipeline.test)) / len(pipeline.test)
    assert row["tokens_per_problem"] == pytest.approx(prompt + ev["mean_response_tokens"])
    assert row["inference_flops_per_problem"] == pytest.approx(
        2 * pipeline.model("base").num_params() * row["tokens_per_problem"])


def test_pooled_inference_flops_by_hand(harness, pipeline, problems):
    pool = harness.pool("base")
    assert pool.n_samples == POOL and len(pool.prompts) == len(problems)
    prompt = _prompt_tokens(pipeline.tokenizer, problems)
    n_params = pipeline.model("base").num_params()
    flops = {}
    for n in (1, 2, POOL):
        by_hand = 2 * n_params * sum(n * p + sum(t[:n]) for p, t in zip(prompt, pool.tokens)) \
            / len(problems)
        for kind in ("majority", "best_of_n_verifier"):
            row = harness.row(Entry("inference-time scaling", "base", f"{kind}@{n}"))
            assert row["inference_flops_per_problem"] == pytest.approx(by_hand), (kind, n)
        flops[n] = by_hand
    assert flops[1] < flops[2] < flops[POOL]
    assert harness.pool("base") is pool   # one pool per model, reused


def test_first_sample_decides_at_n_1(harness):
    pool = harness.pool("base")
    first = sum(verify(c[0]).answer == e for c, e in zip(pool.completions, pool.expected)) \
        / len(pool.prompts)
    assert harness.outcome("base", "majority@1").accuracy == pytest.approx(first)
    assert harness.outcome("base", "best_of_n_verifier@1").accuracy == pytest.approx(first)


def test_scaling_reads_every_curve_off_the_pool(harness):
    ns = [1, 2, 3, 4]
    s = harness.scaling("base", ns)
    assert set(s) == {"majority", "best_of_n_verifier", "pass_at_n", "inference_flops_per_problem"}
    for curve in s.values():
        assert list(curve) == ns
    flops = s["inference_flops_per_problem"]
    assert all(flops[a] < flops[b] for a, b in zip(ns, ns[1:]))
    assert all(s["pass_at_n"][a] <= s["pass_at_n"][b] for a, b in zip(ns, ns[1:]))
    for n in ns:
        for kind in ("majority", "best_of_n_verifier"):
            row = harness.row(Entry("inference-time scaling", "base", f"{kind}@{n}"))
            assert row["accuracy"] == pytest.approx(s[kind][n]), (kind, n)
            assert row["inference_flops_per_problem"] == pytest.approx(flops[n])


def test_prompt_styles_beam_search_and_budget_zero_run(harness):
    for strategy in ("greedy", "cot_prompt", "direct_prompt", "beam_search", "budget@0", "budget@4"):
        out = harness.outcome("base", strategy)
        assert 0.0 <= out.accuracy <= 1.0, strategy
        assert out.tokens_per_problem > 0, strategy


def test_compare_returns_one_row_per_entry(pipeline, problems):
    entries = [Entry("none", "base", "greedy"), Entry("pure RL", "r1_zero", "greedy"),
               Entry("inference-time scaling", "base", "majority@2")]
    rows = compare(entries, {"base": pipeline.model("base"), "r1_zero": pipeline.model("r1_zero")},
                   pipeline.tokenizer, problems[:3], {"base": 5.0, "r1_zero": 7.0}, pool_size=2)
    assert [(r["method"], r["model"], r["strategy"]) for r in rows] == \
        [(e.method, e.model, e.strategy) for e in entries]
    assert [r["train_flops"] for r in rows] == [5.0, 7.0, 5.0]
    assert all(ROW_KEYS <= set(r) for r in rows)


# ------------------------------------------------------------ harness on a hand-made pool
def worked(parts: list[str], answer: int) -> str:
    return f"{THINK}{' = '.join(parts)}{END_THINK}{ANSWER}{answer}{END_ANSWER}"


RIGHT = worked(["(3+4)*2-5", "7*2-5", "14-5", "9"], 9)      # a valid trace, answer 9
SLIP = worked(["(3+4)*2-5", "8*2-5", "16-5", "11"], 11)     # a wrong step, answer 11


@dataclass
class FakeProblem:
    answer: int

    def prompt(self) -> str:
        return "(3+4)*2-5?"


def _hand_made(monkeypatch, pipeline, expected):
    problems = [FakeProblem(a) for a in expected]
    pool = SamplePool([p.prompt() for p in problems], list(expected),
                      [[SLIP, SLIP, SLIP, RIGHT], [RIGHT, SLIP, SLIP, SLIP]],
                      [[5, 6, 7, 8], [3, 3, 3, 3]], 0.0)
    monkeypatch.setattr(harness_module, "sample_pool", lambda *a, **kw: pool)
    return Harness({"m": pipeline.model("base")}, pipeline.tokenizer, problems, {"m": 1.0},
                   pool_size=4)


def test_the_verifier_picks_without_the_answer_key(monkeypatch, pipeline):
    h = _hand_made(monkeypatch, pipeline, [9, 9])
    assert h.outcome("m", "majority@4").accuracy == 0.0               # 11 wins the vote twice
    assert h.outcome("m", "best_of_n_verifier@4").accuracy == 1.0     # the valid trace, twice
    assert h.outcome("m", "majority@1").accuracy == 0.5               # SLIP, then RIGHT
    assert h.outcome("m", "best_of_n_verifier@1").accuracy == 0.5
    # A different key changes the grade, never the choice: the verifier still picks 9.
    flipped = _hand_made(monkeypatch, pipeline, [11, 11])
    assert flipped.outcome("m", "majority@4").accuracy == 1.0
    assert flipped.outcome("m", "best_of_n_verifier@4").accuracy == 0.0


def test_hand_made_pool_token_count(monkeypatch, pipeline):
    h = _hand_made(monkeypatch, pipeline, [9, 9])
    prompt = len(pipeline.tokenizer.encode("(3+4)*2-5?", bos=True))
    assert h.outcome("m", "majority@1").tokens_per_problem == pytest.approx((2 * prompt + 5 + 3) / 2)
    assert h.outcome("m", "best_of_n_verifier@2").tokens_per_problem == pytest.approx(
        (4 * prompt + 5 + 6 + 3 + 3) / 2)
    assert h.outcome("m", "majority@4").tokens_per_problem == pytest.approx((8 * prompt + 26 + 12) / 2)
