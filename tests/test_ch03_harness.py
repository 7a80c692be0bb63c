"""Chapter 3's cost accounting and comparison harness, on the tiny chapter 2 pipeline.

One tiny pipeline is trained (seconds) into a temporary folder and shared by the module; the
hand-made checks use hand-made spending records, a recording GRPO trainer and hand-made sample
pools whose answers and token counts are known.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
from ch01_what_is_reasoning.training import spent
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline import runner as runner_module
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer
from ch02_r1_pipeline.recipe import STAGES, Stage
from ch02_r1_pipeline.runner import Pipeline, run_sft
from ch02_r1_pipeline.sft import SFTConfig
from ch02_r1_pipeline.tasks import held_out_problems, random_train_problem, rl_prompts
from ch03_four_methods import harness as harness_module
from ch03_four_methods.harness import Entry, Harness, compare
from ch03_four_methods.scaling import SamplePool
from ch03_four_methods.training_costs import ancestors, spent_flops, spent_tokens, training_costs
from course.runtime import get_preset

POOL = 4
ROW_KEYS = {"method", "model", "strategy", "accuracy", "train_flops", "inference_flops_per_problem"}
SPENT_KEYS = {"params", "prompt_tokens", "generated_tokens", "trained_tokens", "scored_tokens"}
GRPO_STAGES = ("r1_zero", "r1_zero_consistency", "r1_reasoning_rl", "r1", "student_rl")


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def pipeline(runs_root):
    p = Pipeline(get_preset("tiny"), torch.device("cpu"), runs_root, progress=False)
    p.run_all()
    return p


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The tiny recipe as a pipeline that has run nothing: the graph alone."""
    return Pipeline(get_preset("tiny"), torch.device("cpu"), tmp_path_factory.mktemp("untrained"),
                    progress=False)


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
def test_ancestors_follow_the_r1_recipe(table):
    assert ancestors(table, "base") == set() and ancestors(table, "student_base") == set()
    # R1-Zero's samples seed the cold start, so R1 (and its student) carry R1-Zero's bill
    seed = {"r1_zero", "cold_start_data", "cold_start", "base"}
    assert ancestors(table, "r1") == seed | {"r1_reasoning_rl", "rejection_sampling", "r1_sft"}
    assert ancestors(table, "distill") == seed | {"student_base", "rejection_sampling",
                                                  "r1_reasoning_rl"}
    assert "r1" not in ancestors(table, "distill") and "r1_sft" not in ancestors(table, "distill")
    assert ancestors(table, "student_rl") == {"student_base"}
    assert ancestors(table, "r1_zero") == {"base"}
    with pytest.raises(ValueError, match="unknown stage 'r2'"):
        ancestors(table, "r2")


def test_every_stage_depends_only_on_stages_of_the_table(table):
    assert tuple(table.stages) == STAGES          # the tiny table has the cpu table's stages
    for name, stage in table.stages.items():
        assert stage.name == name
        assert set(stage.inputs) <= set(table.stages), name
        assert name not in ancestors(table, name), name   # no cycles


# ------------------------------------------------------------ training_costs on the pipeline
def test_every_stage_records_what_it_spent(pipeline):
    for name in pipeline.stages:
        record = pipeline.run(name)["spent"]
        assert set(record) == SPENT_KEYS, name
        assert record["params"] > 0 and all(record[k] >= 0 for k in SPENT_KEYS), (name, record)
        assert spent_tokens(record) > 0, name


def test_own_cost_is_what_the_stage_recorded(pipeline, costs):
    assert set(costs) == set(pipeline.stages)
    for name in pipeline.stages:
        assert costs[name]["own"] == spent_flops(pipeline.run(name)["spent"]), name


def test_totals_are_own_plus_each_ancestor_once(costs):
    own = {s: c["own"] for s, c in costs.items()}
    assert set(costs) == set(STAGES)
    assert all(own[s] > 0 for s in own), own
    assert costs["base"]["total"] == own["base"]
    assert costs["student_base"]["total"] == own["student_base"]
    # base is reached three times from r1 (via r1_sft, cold_start and r1_zero): charged once.
    seed = ("r1_zero", "cold_start_data", "cold_start", "base")
    r1 = ("r1", "r1_sft", "rejection_sampling", "r1_reasoning_rl") + seed
    assert costs["r1"]["total"] == pytest.approx(sum(own[s] for s in r1), rel=1e-12)
    distill = ("distill", "student_base", "rejection_sampling", "r1_reasoning_rl") + seed
    assert costs["distill"]["total"] == pytest.approx(sum(own[s] for s in distill), rel=1e-12)
    assert costs["student_rl"]["total"] == pytest.approx(own["student_rl"] + own["student_base"])
    # the teacher's bill makes distillation dearer than RL on the same student
    assert costs["distill"]["total"] > costs["student_rl"]["total"]


def test_totals_follow_the_table(pipeline, costs):
    for name in pipeline.stages:
        expected = costs[name]["own"] + sum(costs[a]["own"] for a in ancestors(pipeline, name))
        assert costs[name]["total"] == pytest.approx(expected, rel=1e-12), name


def test_training_costs_can_be_restricted_to_some_stages(pipeline, costs):
    some = training_costs(pipeline, stages=("r1", "base"))
    assert set(some) == {"r1", "base"}
    assert some["r1"] == costs["r1"] and some["base"] == costs["base"]


def test_pretraining_and_sft_cost_six_n_per_token(pipeline, costs):
    for stage in ("base", "student_base", "cold_start", "r1_sft", "distill"):
        n = pipeline.model(stage).num_params()
        info = pipeline.run(stage)
        tokens = info["tokens"]
        assert tokens > 0
        assert info["spent"] == spent(n, trained_tokens=tokens), stage
        assert costs[stage]["own"] == 6 * n * tokens, stage
    assert pipeline.model("student_base").num_params() < pipeline.model("base").num_params()


def test_grpo_stages_are_costed_from_their_own_log(pipeline, costs):
    for stage in GRPO_STAGES:
        info = pipeline.run(stage)
        n = pipeline.model(stage).num_params()
        cfg, history = info["config"], info["history"]
        assert len(history) == cfg["steps"] > 0, stage
        summed = {k: sum(h[k] for h in history) for k in SPENT_KEYS - {"params"}}
        assert info["spent"] == {"params": n, **summed}, stage
        # chapter 2's settings: mu = 1, beta = 0, so no pass beyond generation and one update
        assert cfg["mu"] == 1 and cfg["beta"] == 0 and summed["scored_tokens"] == 0
        assert costs[stage]["own"] == 2 * n * (summed["prompt_tokens"] + summed["generated_tokens"]) \
            + 6 * n * summed["trained_tokens"], stage
        # at least the generation of every rollout's completion at 2N per token
        rollouts = cfg["prompts_per_step"] * cfg["group_size"]
        generated = sum(h["mean_response_tokens"] for h in history) * rollouts
        assert summed["generated_tokens"] == pytest.approx(generated)
        assert costs[stage]["own"] > 2 * n * generated


def test_rejection_sampling_is_charged_to_the_teacher(pipeline, costs):
    stage = pipeline.stage("rejection_sampling")
    teacher = stage.inputs[0]
    assert teacher == "r1_reasoning_rl"
    n = pipeline.model(teacher).num_params()
    info = pipeline.run("rejection_sampling")
    record = info["spent"]
    assert info["teacher"] == teacher and record["params"] == n
    assert n != pipeline.model("student_base").num_params()
    # the teacher only generates: 2N per prompt and generated token, nothing trained
    assert record["trained_tokens"] == record["scored_tokens"] == 0
    assert costs["rejection_sampling"]["own"] == 2 * n * (record["prompt_tokens"]
                                                         + record["generated_tokens"])
    # every one of the k samples of every problem reads its prompt (an independent count)
    cfg = stage.settings
    rng = random.Random("rejection-sampling-rejection_sampling")   # each data stage draws its own
    prompts = [random_train_problem(rng, ops=cfg.ops).prompt() for _ in range(cfg.prompts)]
    assert info["sampled"] == cfg.k * cfg.prompts
    assert record["prompt_tokens"] == cfg.k * sum(len(pipeline.tokenizer.encode(p, bos=True))
                                                  for p in prompts)
    # at least one token (the end) per sample, at most the context
    block = pipeline.model(teacher).config.block_size
    assert info["sampled"] <= record["generated_tokens"] <= info["sampled"] * block


# ------------------------------------------------------------ a new kind of stage
def test_a_new_stage_kind_is_costed_with_no_change_to_chapter_3(pipeline, costs, runs_root,
                                                                  monkeypatch):
    def run_my_kind(p, stage):
        model, info = run_sft(p, stage)
        return model, {**info, "spent": spent(model.num_params(), trained_tokens=123)}

    monkeypatch.setitem(runner_module.KINDS, "my_kind", run_my_kind)
    p = Pipeline(get_preset("tiny"), torch.device("cpu"), runs_root, progress=False)
    # examples > 0: cold-start traces (with one input, run_sft has no data stage to read)
    p.stages["my_sft"] = Stage("my_sft", "my_kind", ("r1",), SFTConfig(steps=2, examples=4,
                                                                       batch_size=2))
    new = training_costs(p)
    assert set(new) == set(costs) | {"my_sft"}
    for name in costs:   # the old stages, loaded from the folder: the same bill
        assert new[name] == pytest.approx(costs[name]), name
    n = p.model("my_sft").num_params()
    assert n == pipeline.model("r1").num_params()
    assert new["my_sft"]["own"] == 6 * n * 123
    assert new["my_sft"]["total"] == pytest.approx(new["my_sft"]["own"] + costs["r1"]["total"],
                                                   rel=1e-12)
    assert ancestors(p, "my_sft") == {"r1"} | ancestors(pipeline, "r1")
    assert "my_sft" not in pipeline.stages   # the shared pipeline's table is untouched


# ------------------------------------------------------------ spent_flops by hand
def test_spent_flops_is_two_n_per_forward_token_and_six_n_per_trained_token():
    n = 1000
    assert spent_flops(spent(n)) == 0
    for key in ("prompt_tokens", "generated_tokens", "scored_tokens"):
        assert spent_flops(spent(n, **{key: 1})) == 2 * n, key
        assert spent_flops(spent(n, **{key: 7})) == 7 * 2 * n, key
    assert spent_flops(spent(n, trained_tokens=1)) == 6 * n
    assert spent_flops(spent(2 * n, trained_tokens=1)) == 12 * n   # linear in the model size
    # 6 rollouts x (4 prompt + 10 completion) = 84 tokens generated, half of them trained on
    step = spent(n, prompt_tokens=24, generated_tokens=60, trained_tokens=42)
    assert spent_flops(step) == pytest.approx(2 * n * 84 + 6 * n * 42)
    two_steps = spent(n, prompt_tokens=48, generated_tokens=120, trained_tokens=84)
    assert spent_flops(two_steps) == pytest.approx(2 * spent_flops(step))


def test_spent_flops_grows_with_trained_and_generated_tokens():
    n = 1000
    half = spent_flops(spent(n, prompt_tokens=24, generated_tokens=60, trained_tokens=42))
    assert spent_flops(spent(n, prompt_tokens=24, generated_tokens=60, trained_tokens=84)) > half
    assert spent_flops(spent(n, prompt_tokens=24, generated_tokens=60, trained_tokens=21)) < half
    assert spent_flops(spent(n, prompt_tokens=24, generated_tokens=120, trained_tokens=42)) > half
    # nothing trained on: generation only
    assert spent_flops(spent(n, prompt_tokens=24, generated_tokens=60)) == pytest.approx(2 * n * 84)


def test_spent_flops_counts_the_extra_passes_grpo_records_for_mu_and_beta():
    n, kept, generation = 1000, 42, 2 * 1000 * 84

    def grpo(mu, beta):   # what GRPOTrainer records for one step with `kept` tokens kept
        return spent(n, prompt_tokens=24, generated_tokens=60, trained_tokens=kept * mu,
                     scored_tokens=kept * ((mu > 1) + (beta != 0)))

    assert spent_flops(grpo(1, 0.0)) - generation == pytest.approx(6 * n * kept)
    # mu=2: two forward+backward passes plus one forward for the old log-probs
    assert spent_flops(grpo(2, 0.0)) - generation == pytest.approx((12 + 2) * n * kept)
    # beta != 0: one forward of the reference model
    assert spent_flops(grpo(1, 0.04)) - generation == pytest.approx((6 + 2) * n * kept)
    assert spent_flops(grpo(2, 0.04)) - generation == pytest.approx((12 + 2 + 2) * n * kept)


def test_spent_tokens_counts_each_processed_token_once():
    record = spent(1000, prompt_tokens=3, generated_tokens=5, trained_tokens=7, scored_tokens=11)
    assert spent_tokens(record) == 3 + 5 + 7   # scoring re-reads tokens already counted


# ------------------------------------------------------------ what GRPOTrainer records
class RecordingTrainer(GRPOTrainer):
    """GRPO as it is, recording what its sampling hook returned each step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.samples = []

    def sample(self, prompt_ids):
        tokens, finished = super().sample(prompt_ids)
        self.samples.append((tokens, finished))
        return tokens, finished


def _recorded_grpo_run(base, tokenizer, **settings):
    """Two GRPO steps with a length reward (it differs within most groups, so rows are kept and
    trained on); returns the trainer, the prompts it drew and the rewards it got, per step."""
    drawn, rewards = [], []

    def sample_prompts(rng, n):
        batch = rl_prompts(rng, n)
        drawn.append([p for p, _ in batch])
        return batch

    def length(completions, **kwargs):
        rewards.append([float(len(c)) for c in completions])
        return rewards[-1]

    cfg = GRPOConfig(steps=2, prompts_per_step=3, group_size=3, max_new_tokens=24, seed=5,
                     reward_weights={"length": 1.0}, **settings)
    trainer = RecordingTrainer(copy.deepcopy(base).train(), tokenizer, sample_prompts, cfg,
                               rewards={"length": length})
    trainer.train(progress=False)
    return trainer, drawn, rewards


def _count_by_hand(trainer, drawn, rewards, tokenizer):
    """Per step: prompt, generated and kept (prompt + completion) tokens, counted from what the
    trainer was given and sampled, not from its log."""
    cfg, steps = trainer.config, []
    for prompts, (tokens, finished), reward in zip(drawn, trainer.samples, rewards):
        prompt_lengths = [len(tokenizer.encode(p, bos=True)) for p in prompts for _ in range(cfg.group_size)]
        completion_lengths = [len(t) + f for t, f in zip(tokens, finished)]   # + the end token
        kept = 0
        for i, (p, c, f) in enumerate(zip(prompt_lengths, completion_lengths, finished)):
            group = reward[i - i % cfg.group_size:][:cfg.group_size]
            if max(group) > min(group) and f:   # a mixed group, and not cut by max_new_tokens
                kept += p + c
        steps.append({"prompt_tokens": sum(prompt_lengths), "generated_tokens": sum(completion_lengths),
                      "kept_tokens": kept, "rows": len(prompt_lengths)})
    return steps


@pytest.fixture(scope="module")
def grpo_runs(pipeline):
    base, tok = pipeline.model("base"), pipeline.tokenizer
    return {name: _recorded_grpo_run(base, tok, **settings) for name, settings in
            (("plain", {}), ("mu2", {"mu": 2}), ("kl", {"beta": 0.04}))}


def test_grpo_records_the_tokens_it_processed(pipeline, grpo_runs):
    tok = pipeline.tokenizer
    trainer, drawn, rewards = grpo_runs["plain"]
    assert len(drawn) == len(trainer.samples) == len(rewards) == len(trainer.history) == 2
    by_hand = _count_by_hand(trainer, drawn, rewards, tok)
    for step, (h, count) in enumerate(zip(trainer.history, by_hand)):
        assert h["prompt_tokens"] == count["prompt_tokens"], step      # the prompts it drew
        assert h["generated_tokens"] == count["generated_tokens"], step
        assert h["generated_tokens"] == pytest.approx(h["mean_response_tokens"] * count["rows"])
        assert h["trained_tokens"] == count["kept_tokens"], step      # mu = 1: one pass
        assert h["scored_tokens"] == 0, step                          # mu = 1, beta = 0
    # the run trained on some rows and dropped others (truncated, or in a group of equal rewards)
    assert sum(c["kept_tokens"] for c in by_hand) > 0
    assert sum(c["kept_tokens"] for c in by_hand) < sum(c["prompt_tokens"] + c["generated_tokens"]
                                                         for c in by_hand)
    keys = ("prompt_tokens", "generated_tokens", "trained_tokens", "scored_tokens")
    assert trainer.spent() == {"params": pipeline.model("base").num_params(),
                               **{k: sum(h[k] for h in trainer.history) for k in keys}}


def test_grpo_records_extra_passes_for_mu_and_beta(pipeline, grpo_runs):
    tok = pipeline.tokenizer
    plain = grpo_runs["plain"][0].history
    for name, mu, extra in (("mu2", 2, 1), ("kl", 1, 1)):
        trainer, drawn, rewards = grpo_runs[name]
        for step, (h, count) in enumerate(zip(trainer.history, _count_by_hand(trainer, drawn, rewards, tok))):
            assert h["prompt_tokens"] == count["prompt_tokens"], (name, step)
            assert h["generated_tokens"] == count["generated_tokens"], (name, step)
            assert h["trained_tokens"] == mu * count["kept_tokens"], (name, step)
            # the old log-probs (mu > 1) or the reference model (beta != 0): one forward each
            assert h["scored_tokens"] == extra * count["kept_tokens"], (name, step)
        # the first step samples from the same start model with the same seed as the plain
        # run: the same rollouts, so mu = 2 doubles the trained tokens and beta adds scoring
        first = trainer.history[0]
        assert first["prompt_tokens"] == plain[0]["prompt_tokens"]
        assert first["generated_tokens"] == plain[0]["generated_tokens"]
        assert plain[0]["trained_tokens"] > 0
        assert first["trained_tokens"] == mu * plain[0]["trained_tokens"], name
        assert first["scored_tokens"] == plain[0]["trained_tokens"], name
    both, drawn, rewards = _recorded_grpo_run(pipeline.model("base"), tok, mu=2, beta=0.04)
    count = _count_by_hand(both, drawn, rewards, tok)[0]
    assert both.history[0]["trained_tokens"] == 2 * count["kept_tokens"] == 2 * plain[0]["trained_tokens"]
    assert both.history[0]["scored_tokens"] == 2 * count["kept_tokens"]   # old log-probs + reference


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
