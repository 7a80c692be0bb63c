"""Chapter 4 end to end at the tiny preset (one CLI run shared by the module), and its parts
on their own: the bill's arithmetic, journey-learning traces, trace choice for distillation,
pure RL by size."""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
from types import SimpleNamespace

import pytest
import torch
from helpers import make_model, run_chapter_cli, safe_eval

from ch01_what_is_reasoning.arithmetic import (
    ANSWER,
    END_ANSWER,
    END_THINK,
    THINK,
    WAIT,
    Problem,
    random_problem,
    to_script,
)
from ch01_what_is_reasoning.model import GPT
from ch01_what_is_reasoning.sampling import Generation
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.grpo import GRPOConfig, GRPOTrainer
from ch02_r1_pipeline.recipe import SETTINGS as CH02_SETTINGS
from ch02_r1_pipeline.recipe import STAGES
from ch02_r1_pipeline.runner import Pipeline
from ch02_r1_pipeline.tasks import RL_OPS, held_out_problems
from ch03_four_methods.training_costs import spent_flops, spent_tokens
from ch04_budget import costs, journey, rl_sweep
from ch04_budget.__main__ import main
from ch04_budget.chapter import (
    SETTINGS,
    chapter3_row,
    course_costs,
    run_chapter,
    size_or_pretraining,
    summary_table,
)
from ch04_budget.distillation import Trace, choose, distill, worked_traces
from ch04_budget.journey import planted_prefix, recovery_rate, sft_traces
from ch04_budget.plots import plot_data_efficiency
from ch04_budget.rl_sweep import pretrained, pure_rl
from course.cache import seal
from course.runtime import ModelShape, get_preset, load_checkpoint

PLOTS = ("costs.png", "data_efficiency.png", "rl_size_sweep.png", "journey.png")
TINY = SETTINGS["tiny"]
ONE_GPU_HOUR = 989e12 * 0.40 * 3600      # FLOPs an H100 at 40% of its bf16 peak does in an hour


def _answer_of(prompt: str) -> int:
    """The value of a prompt ('(3+4)*2?' in either script), computed without the course's code."""
    return safe_eval(to_script(prompt.removesuffix("?"), "latin"))


def _shape(shape: ModelShape) -> list[int]:
    """A ModelShape as results.json writes it: [n_layer, n_head, n_embd]."""
    return [shape.n_layer, shape.n_head, shape.n_embd]


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """(runs folder, results.json as read back, what the CLI printed)."""
    root = tmp_path_factory.mktemp("runs")
    return (root, *run_chapter_cli(main, root, "ch04"))


@pytest.fixture(scope="module")
def results(cli_run):
    return cli_run[1]


@pytest.fixture(scope="module")
def tiny_pipeline(cli_run):
    """Chapter 2's tiny stages, loaded from the CLI run's folder (nothing is trained again)."""
    return Pipeline(get_preset("tiny"), torch.device("cpu"), cli_run[0], progress=False)


# ------------------------------------------------------------ the CLI run
def test_results_json_has_the_contract_keys(results):
    assert results["preset"] == "tiny" and results["device"] == "cpu"
    assert results["seconds"] > 0
    assert results["test_problems"] == CH02_SETTINGS["tiny"].test_problems
    assert results["teacher_traces"] == TINY.teacher_problems     # the world's traces: all kept
    for row in results["costs"]:
        for key in ("run", "tokens", "flops", "seconds", "device", "usd"):
            assert key in row, (row, key)
        assert row["tokens"] >= 0 and row["flops"] >= 0 and row["seconds"] >= 0, row
    assert sorted(map(int, results["data_efficiency"])) == sorted(TINY.trace_counts)
    assert all(0.0 <= a <= 1.0 for a in results["data_efficiency"].values())
    t = results["targeted_vs_random"]
    assert t["n_traces"] == TINY.targeted_n
    assert 0.0 <= t["targeted"] <= 1.0 and 0.0 <= t["random"] <= 1.0
    # targeted_n is one of the curve's counts, so "random" is that point of the curve
    assert t["random"] == results["data_efficiency"][str(TINY.targeted_n)]
    pool = worked_traces(TINY.teacher_problems)
    assert t["hardest_ops"] == sorted({x.n_ops for x in choose(pool, TINY.targeted_n, "targeted")})
    assert min(t["hardest_ops"]) >= sorted((x.n_ops for x in pool), reverse=True)[TINY.targeted_n - 1]
    for name in ("shortcut", "journey", "base"):
        for key in ("accuracy", "recovery_rate"):
            assert 0.0 <= results["journey"][name][key] <= 1.0, (name, key)


def test_the_plots_are_written(cli_run):
    root = cli_run[0]
    for name in PLOTS:
        assert (root / "ch04" / name).stat().st_size > 0, name


def test_rl_size_sweep_spans_chapter_2_and_chapter_4_sizes(cli_run, results):
    sweep = results["rl_size_sweep"]
    keys = [(p["params"], p["pretrain_steps"]) for p in sweep]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len(sweep) == 2 + len(TINY.sweep_shapes)
    by_source = {p["source"]: p for p in sweep}
    preset = get_preset("tiny")
    assert by_source["chapter 2 (student_rl)"]["shape"] == _shape(CH02_SETTINGS["tiny"].student)
    assert by_source["chapter 2 (r1_zero)"]["shape"] == [preset.n_layer, preset.n_head, preset.n_embd]
    ours = [p for p in sweep if p["source"] == "chapter 4"]
    assert [p["shape"] for p in ours] == [_shape(s) for s in TINY.sweep_shapes]
    for p in sweep:
        assert 0.0 <= p["accuracy_before"] <= 1.0 and 0.0 <= p["accuracy_after"] <= 1.0, p
        assert p["rl_flops"] > 0 and p["pretrain_flops"] > 0, p
    for p in ours:   # the pretrained size was saved in chapter 4's folder, with its own name
        n_layer, _, n_embd = p["shape"]
        model, info = load_checkpoint(cli_run[0] / "ch04" / f"base_{n_layer}x{n_embd}.pt", model_class=GPT)
        assert model.num_params() == p["params"]
        assert info["preset"] == f"tiny-{n_layer}x{n_embd}"
        assert p["pretrain_steps"] == TINY.sweep_pretrain_steps
        assert p["pretrain_flops"] == pytest.approx(6 * p["params"] * info["tokens"])


def test_the_sweep_compares_sizes_on_the_same_tokens_and_one_size_on_two_lengths(results):
    split = results["size_or_pretraining"]
    same_tokens = split["same_tokens"]
    # the student and every chapter-4 size are pretrained for the same steps (the same tokens)
    assert (split["pretrain_steps"] == TINY.sweep_pretrain_steps
            == CH02_SETTINGS["tiny"].student_pretrain_steps)
    assert sorted(r["shape"] for r in same_tokens) == sorted(
        [_shape(CH02_SETTINGS["tiny"].student)] + [_shape(s) for s in TINY.sweep_shapes])
    assert [r["params"] for r in same_tokens] == sorted(r["params"] for r in same_tokens)
    assert all(r["pretrain_steps"] == TINY.sweep_pretrain_steps for r in same_tokens)
    # chapter 2's base shares its shape with a chapter-4 size, pretrained longer
    preset = get_preset("tiny")
    (pair,) = split["same_size"]
    assert [r["shape"] for r in pair] == [[preset.n_layer, preset.n_head, preset.n_embd]] * 2
    assert [r["pretrain_steps"] for r in pair] == [TINY.sweep_pretrain_steps, preset.pretrain_steps]
    for r in same_tokens + pair:
        assert r["rl_gain"] == pytest.approx(r["accuracy_after"] - r["accuracy_before"])


def test_size_or_pretraining_pairs_only_shapes_seen_at_two_lengths():
    def point(shape, steps, before, after):
        return {"params": 10 * shape[2], "shape": list(shape), "pretrain_steps": steps,
                "accuracy_before": before, "accuracy_after": after}
    sweep = [point((1, 1, 8), 100, 0.1, 0.1), point((2, 2, 16), 100, 0.2, 0.3),
             point((2, 2, 16), 300, 0.4, 0.9)]
    split = size_or_pretraining(sweep, 100)
    assert [r["shape"] for r in split["same_tokens"]] == [[1, 1, 8], [2, 2, 16]]
    assert [[r["pretrain_steps"] for r in pair] for pair in split["same_size"]] == [[100, 300]]
    assert split["same_size"][0][1]["rl_gain"] == pytest.approx(0.5)


def test_the_bill_has_every_run(results):
    rows = results["costs"]
    names = [r["run"] for r in rows]
    # one row per stage of chapter 2's table, in the table's order (base is chapter 1's)
    assert names[:len(STAGES)] == ["ch01 base"] + [f"ch02 {s}" for s in STAGES if s != "base"]
    for r in rows[:len(STAGES)]:
        assert r["tokens"] > 0 and r["flops"] > 0, r
    assert not any(n.startswith("ch03") for n in names)   # chapter 3 was not run in this folder
    ch04 = set(names[len(STAGES):])
    assert {f"ch04 distill on {n} traces" for n in TINY.trace_counts} <= ch04
    assert f"ch04 distill on {TINY.targeted_n} hardest traces" in ch04
    for shape in TINY.sweep_shapes:
        size = f"{shape.n_layer}x{shape.n_embd}"
        assert {f"ch04 pretrain {size}", f"ch04 pure RL {size}"} <= ch04
    assert {"ch04 SFT shortcut", "ch04 SFT journey"} <= ch04
    # everything ran in this call, so the bill's seconds add up to the chapter's wall time
    assert names[-1] == "ch04 evaluation and the rest (wall time)"
    assert 0 <= rows[-1]["seconds"] <= results["seconds"]
    assert sum(r["seconds"] for r in rows) == pytest.approx(results["seconds"])
    for r in rows:   # every dollar figure follows from the row's own FLOPs and seconds
        assert r["usd"] == pytest.approx(r["flops"] / ONE_GPU_HOUR * 2.0), r
        assert r["usd_wall"] == pytest.approx(r["seconds"] / 3600 * 0.10), r   # all on the CPU
    # the chapter-4 rows agree with the sweep and the curve they charge for
    row = {r["run"]: r for r in rows}
    student = next(p for p in results["rl_size_sweep"] if p["source"] == "chapter 2 (student_rl)")
    for n in TINY.trace_counts:
        r = row[f"ch04 distill on {n} traces"]
        assert r["flops"] == pytest.approx(6 * student["params"] * r["tokens"])
    for p in (p for p in results["rl_size_sweep"] if p["source"] == "chapter 4"):
        r = row[f"ch04 pure RL {p['shape'][0]}x{p['shape'][2]}"]
        assert r["flops"] == pytest.approx(p["rl_flops"]) and r["tokens"] == pytest.approx(p["rl_tokens"])


def test_the_journey_set_adds_corrections_to_the_shortcut_set(results):
    j = results["journey"]
    assert j["shortcut"]["examples"] == TINY.journey_problems
    assert j["journey"]["examples"] == round(TINY.journey_problems * (1 + TINY.journey_corrections))
    for name in ("shortcut", "journey"):
        assert 0.0 <= j[name]["wait_rate"] <= 1.0
        assert j[name]["example_planted"] and all(c.startswith(THINK) for c in j[name]["example_planted"])


def test_the_cli_prints_the_summary_and_the_missing_chapter_3(cli_run, results):
    root, _, printed = cli_run
    assert f"{root / 'ch03' / 'results.json'} is missing" in printed
    assert printed.rstrip().endswith(summary_table(results))


def test_summary_table_mentions_every_sweep_point_and_both_variants(results):
    text = summary_table(results)
    lines = text.splitlines()
    for p in results["rl_size_sweep"]:
        assert any(f"{p['params']:,} params" in line and p["source"] in line for line in lines), p
    for name in ("shortcut", "journey"):
        assert any(line.strip().startswith(name) and "recovery" in line for line in lines), name
    for n in TINY.trace_counts:
        assert any(line.strip().startswith(f"{n} traces:") for line in lines), n
    for r in results["costs"]:
        assert any(line.startswith(r["run"]) for line in lines), r["run"]


def test_course_costs_adds_chapter_3_only_when_it_was_run(tiny_pipeline, results, tmp_path, capsys):
    without = course_costs(tiny_pipeline, tmp_path / "no_ch03")
    assert "is missing" in capsys.readouterr().out
    assert [r["run"] for r in without] == [r["run"] for r in results["costs"][:len(STAGES)]]
    for mine, theirs in zip(without, results["costs"]):   # same saved infos, same bill
        assert mine["flops"] == pytest.approx(theirs["flops"])
        assert mine["tokens"] == pytest.approx(theirs["tokens"])
    for stage, row in zip(tiny_pipeline.stages, without):   # the bill is what each stage recorded
        record = tiny_pipeline.run(stage)["spent"]
        assert row["flops"] == spent_flops(record) and row["tokens"] == spent_tokens(record), stage

    ch03 = tmp_path / "with_ch03" / "ch03"
    ch03.mkdir(parents=True)
    (ch03 / "results.json").write_text(json.dumps(seal({
        "preset": "tiny", "test_problems": 10, "seconds": 90.0, "device": "cuda:0",
        "methods": [{"tokens_per_problem": 100.0, "inference_flops_per_problem": 2e6},
                    {"tokens_per_problem": 50.0, "inference_flops_per_problem": 1e6}]})))
    rows = course_costs(tiny_pipeline, tmp_path / "with_ch03")
    assert "is missing" not in capsys.readouterr().out
    assert len(rows) == len(without) + 1
    last = rows[-1]
    assert last["run"].startswith("ch03")
    assert last["tokens"] == pytest.approx(1500.0) and last["flops"] == pytest.approx(3e7)
    assert last["seconds"] == 90.0 and last["device"] == "cuda:0"
    assert last["usd_wall"] == pytest.approx(90.0 / 3600 * 2.0)    # priced as a GPU hour


def test_a_rerun_loads_every_model_and_bills_chapter_3_when_it_is_there(cli_run, results, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(cli_run[0], root)
    (root / "ch03" / "results.json").write_text(json.dumps(seal({
        "preset": "tiny", "test_problems": 4, "seconds": 30.0, "device": "cpu",
        "methods": [{"tokens_per_problem": 10.0, "inference_flops_per_problem": 1e5}]})))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        again = run_chapter("tiny", root, progress=False)
    assert "is missing" not in out.getvalue()
    row = {r["run"]: r for r in again["costs"]}
    ch03 = [r for r in again["costs"] if r["run"].startswith("ch03")]
    assert len(ch03) == 1 and ch03[0]["tokens"] == 40.0 and ch03[0]["flops"] == pytest.approx(4e5)
    assert ch03[0]["seconds"] == 30.0
    first = {r["run"]: r for r in results["costs"]}
    for stage_row in results["costs"][:len(STAGES)]:   # loaded, so billed as when they were trained
        assert row[stage_row["run"]] == pytest.approx(stage_row)
    pretrain = [n for n in row if n.startswith("ch04 pretrain")]
    assert pretrain and all(row[n]["seconds"] == pytest.approx(first[n]["seconds"]) for n in pretrain)
    def timeless(points):
        return [{k: v for k, v in p.items() if k != "rl_seconds"} for p in points]

    assert timeless(again["rl_size_sweep"]) == timeless(results["rl_size_sweep"])   # same models
    # this call's own work plus the rest is its wall time: nothing paid earlier is billed twice
    this_call = [r for r in again["costs"] if r["run"].startswith("ch04") and r["run"] not in pretrain]
    assert sum(r["seconds"] for r in this_call) == pytest.approx(again["seconds"])


# ------------------------------------------------------------ costs
def test_the_stated_prices():
    assert costs.GPU_PEAK_FLOPS == 989e12 and costs.GPU_UTILIZATION == 0.40
    assert costs.GPU_PRICE_PER_HOUR == 2.0 and costs.CPU_PRICE_PER_HOUR == 0.10


def test_gpu_hours_and_dollars_by_hand():
    assert costs.gpu_hours(ONE_GPU_HOUR) == pytest.approx(1.0)
    assert costs.gpu_hours(3 * ONE_GPU_HOUR) == pytest.approx(3.0)
    assert costs.usd(ONE_GPU_HOUR) == pytest.approx(2.0)
    assert costs.usd(1e18) == pytest.approx(1e18 / (989e12 * 0.4) / 3600 * 2.0)   # ~ $1.40
    assert costs.usd(0) == 0.0
    # TinyZero's $30 is 15 GPU-hours at this price
    assert costs.gpu_hours(15 * ONE_GPU_HOUR) * costs.GPU_PRICE_PER_HOUR == pytest.approx(30.0)


def test_cost_row_prices_wall_time_by_device():
    cpu = costs.cost_row("a", 10, ONE_GPU_HOUR, 7200.0, "cpu")
    assert cpu == {"run": "a", "tokens": 10, "flops": ONE_GPU_HOUR, "seconds": 7200.0, "device": "cpu",
                   "gpu_hours": pytest.approx(1.0), "usd": pytest.approx(2.0),
                   "usd_wall": pytest.approx(0.20)}
    gpu = costs.cost_row("b", 10, ONE_GPU_HOUR, 1800.0, "cuda:0")
    assert gpu["device"] == "cuda:0" and gpu["usd_wall"] == pytest.approx(1.0)
    assert gpu["usd"] == cpu["usd"]                     # FLOPs are priced the same wherever they ran
    assert costs.cost_row("c", 0, 0, 3600.0, "mps")["usd_wall"] == pytest.approx(0.10)
    assert costs.cost_row("d", 0, 0, 3600.0, torch.device("cuda", 1))["usd_wall"] == pytest.approx(2.0)


def test_cost_row_rejects_an_unknown_device():
    with pytest.raises(ValueError, match=r"no price for device 'tpu'.*cpu.*cuda.*mps"):
        costs.cost_row("x", 1, 1, 1.0, "tpu")
    with pytest.raises(ValueError, match="no price"):
        costs.cost_row("x", 1, 1, 1.0, "xla:0")


def test_total_sums_the_rows():
    rows = [costs.cost_row("a", 10, ONE_GPU_HOUR, 3600.0, "cpu"),
            costs.cost_row("b", 5, 2 * ONE_GPU_HOUR, 1800.0, "cuda:0"),
            costs.cost_row("c", 1, 0, 0.0, "cpu")]
    t = costs.total(rows)
    assert t["run"] == "the whole course" and t["device"] == "cpu+cuda:0"
    assert t["tokens"] == 16 and t["flops"] == pytest.approx(3 * ONE_GPU_HOUR)
    assert t["seconds"] == 5400.0 and t["gpu_hours"] == pytest.approx(3.0)
    assert t["usd"] == pytest.approx(6.0) and t["usd_wall"] == pytest.approx(0.10 + 1.0)
    empty = costs.total([])
    assert empty["flops"] == 0 and empty["usd"] == 0 and empty["device"] == ""


# ------------------------------------------------------------ journey learning
def test_shortcut_traces_are_clean_worked_solutions():
    pairs = sft_traces(12, 0)
    assert len(pairs) == 12
    for prompt, completion in pairs:
        assert WAIT not in prompt + completion
        assert prompt.endswith("?") and completion.startswith(THINK)
        verdict = verify(completion, _answer_of(prompt))
        assert verdict.correct and verdict.well_formed, (prompt, completion)
    assert sft_traces(12, 0) == pairs                                      # fixed by the seed
    assert [p for p, _ in sft_traces(12, 0, seed=1)] != [p for p, _ in pairs]


def test_journey_traces_add_corrections_of_the_same_problems():
    n = 10
    clean, pairs = sft_traces(n, 0), sft_traces(n, corrections=2)
    assert len(pairs) == 3 * n
    assert pairs[:n] == clean                            # both sets hold the same clean traces
    by_prompt = dict(clean)
    seen = []
    for prompt, completion in pairs[n:]:
        question, _, think = prompt.partition(THINK)
        assert question in by_prompt                     # a problem of the shortcut set
        seen.append(question)
        assert completion.startswith(WAIT)
        right_parts = by_prompt[question][len(THINK):].split(END_THINK)[0].split(" = ")
        parts = think.split(" = ")
        k = len(parts) - 1
        assert k >= 1 and parts[:k] == right_parts[:k]   # correct up to the planted step ...
        assert parts[k] != right_parts[k]                # ... which is wrong
        assert _answer_of(parts[k]) != _answer_of(right_parts[k])
        assert completion[len(WAIT):].startswith(right_parts[k])   # and then fixed
        # with the wrong step and " wait " taken out, it is the clean trace
        assert (prompt + completion).replace(parts[k] + WAIT, "", 1) == question + by_prompt[question]
        verdict = verify(THINK + think + completion, _answer_of(question))
        assert verdict.correct and verdict.well_formed
    assert sorted(seen) == sorted(2 * [p for p, _ in clean])   # each problem corrected twice


def test_fractional_and_negative_corrections():
    assert len(sft_traces(8, corrections=0.5)) == 12
    with pytest.raises(ValueError, match="corrections"):
        sft_traces(8, corrections=-1)


@pytest.mark.parametrize("script", ["latin", "persian"])
def test_planted_prefix_ends_with_a_wrong_step(script):
    rng = random.Random(0)
    for i in range(40):
        problem = random_problem(random.Random(i), 1 + i % 5, script)
        prefix = planted_prefix(problem, rng)
        assert prefix.startswith(THINK) and WAIT not in prefix and END_THINK not in prefix
        parts = prefix[len(THINK):].split(" = ")
        k = len(parts) - 1
        right = problem.rewrites()
        assert 1 <= k <= problem.n_ops
        assert parts[:k] == right[:k]
        assert parts[k] != right[k]
        assert _answer_of(parts[k]) != problem.answer           # its value is wrong, not its spelling
        assert to_script(parts[k], script) == parts[k]          # in the problem's own script
    with pytest.raises(ValueError, match="at least one operation"):
        planted_prefix(Problem(5, ()), rng)


def _continuations(tok, problems, recover):
    """A stand-in for `generate`: after each planted prefix, either write ' wait ' and the right
    steps (recover[i] True) or answer at once with a wrong number."""
    def fake_generate(model, ids, **kw):
        out = []
        for i, (p, prompt_ids) in enumerate(zip(problems, ids)):
            think = tok.decode(prompt_ids).split(THINK)[1]
            k = think.count(" = ")                      # the planted step's index
            answer = to_script(str(p.answer), p.script)
            text = (f"{WAIT}{' = '.join(p.rewrites()[k:])}{END_THINK}{ANSWER}{answer}{END_ANSWER}"
                    if recover[i] else f"{END_THINK}{ANSWER}0{END_ANSWER}")
            out.append(tok.encode(text))
        return Generation(out, [True] * len(out))
    return fake_generate


def test_recovery_rate_grades_the_continuation_of_the_planted_prefix(tok, monkeypatch):
    problems = held_out_problems(6)
    model = SimpleNamespace(config=SimpleNamespace(block_size=256))
    monkeypatch.setattr(journey, "generate", _continuations(tok, problems, [True] * 6))
    r = recovery_rate(model, tok, problems)
    assert r.recovery_rate == 1.0 and r.wait_rate == 1.0 and r.n_problems == 6
    monkeypatch.setattr(journey, "generate", _continuations(tok, problems, [False] * 6))
    r = recovery_rate(model, tok, problems)
    assert r.recovery_rate == 0.0 and r.wait_rate == 0.0
    monkeypatch.setattr(journey, "generate", _continuations(tok, problems, [True, False] * 3))
    r = recovery_rate(model, tok, problems)
    assert r.recovery_rate == pytest.approx(0.5) and r.wait_rate == pytest.approx(0.5)
    assert [verify(c, p.answer).correct for c, p in zip(r.completions, problems)] == [True, False] * 3


def test_recovery_rate_on_a_tiny_random_gpt(tok, monkeypatch):
    problems = held_out_problems(4)
    model = make_model(tok.vocab_size, block_size=96)
    planted = []

    def recording(problem, rng):
        planted.append(planted_prefix(problem, rng))
        return planted[-1]

    monkeypatch.setattr(journey, "planted_prefix", recording)
    r = recovery_rate(model, tok, problems)
    assert r.n_problems == 4 and len(r.completions) == 4 and len(planted) == 4
    assert 0.0 <= r.recovery_rate <= 1.0 and 0.0 <= r.wait_rate <= 1.0
    for completion, prefix in zip(r.completions, planted):
        assert prefix.startswith(THINK) and completion.startswith(prefix)
    again = recovery_rate(model, tok, problems)                  # greedy, fixed plants
    assert again.completions == r.completions and planted[:4] == planted[4:]


# ------------------------------------------------------------ distillation
def _pool():
    return [Trace(f"p{i}?", f"c{i}", n_ops) for i, n_ops in
            enumerate([2, 5, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4])]


def test_choose_targeted_takes_the_hardest_traces_first():
    pool = _pool()
    for n in (1, 3, 4, 7, len(pool)):
        chosen = choose(pool, n, "targeted")
        assert len(chosen) == n and len({t.prompt for t in chosen}) == n
        assert all(t in pool for t in chosen)
        assert sorted((t.n_ops for t in chosen), reverse=True) == \
            sorted((t.n_ops for t in pool), reverse=True)[:n]
        assert [t.n_ops for t in chosen] == sorted((t.n_ops for t in chosen), reverse=True)
    assert {t.n_ops for t in choose(pool, 3, "targeted")} == {5}


def test_choose_random_is_a_seeded_sample():
    pool = _pool()
    chosen = choose(pool, 6, "random")
    assert len(chosen) == 6 and len({t.prompt for t in chosen}) == 6 and all(t in pool for t in chosen)
    assert choose(pool, 6, "random") == chosen
    assert any(choose(pool, 6, "random", seed=s) != chosen for s in range(1, 5))
    # a random draw of 6 of these 12 is not always the 6 hardest
    assert any({t.n_ops for t in choose(pool, 6, "random", seed=s)} != {4, 5} for s in range(5))
    assert sorted(t.prompt for t in choose(pool, len(pool), "random")) == sorted(t.prompt for t in pool)


def test_choose_rejects_bad_requests():
    pool = _pool()
    for n in (0, -1, len(pool) + 1):
        with pytest.raises(ValueError, match="cannot choose"):
            choose(pool, n, "random")
    with pytest.raises(ValueError, match="unknown choice"):
        choose(pool, 2, "hardest")


def test_worked_traces_are_correct_training_solutions():
    traces = worked_traces(30)
    assert len(traces) == 30 and traces == worked_traces(30)
    for t in traces:
        verdict = verify(t.completion, _answer_of(t.prompt))
        assert verdict.correct and verdict.well_formed, t
        assert WAIT not in t.completion
        assert t.n_ops == sum(c in "+-*" for c in t.prompt) and t.n_ops in RL_OPS
    test_prompts = {p.prompt() for p in held_out_problems(300)}
    assert not test_prompts & {t.prompt for t in traces}


def test_distill_returns_a_trained_copy_and_leaves_the_student_alone(tok):
    student = make_model(tok.vocab_size, block_size=128)
    before = _params(student).clone()
    model, result = distill(student, worked_traces(4), tok, steps=2, lr=1e-2, batch_size=2)
    assert model is not student and not model.training
    assert torch.equal(_params(student), before)
    assert not torch.equal(_params(model), before)
    assert result.tokens > 0


def test_plot_data_efficiency_sorts_string_keys_as_numbers():
    fig = plot_data_efficiency({"10": 0.5, "9": 0.25, "100": 0.75},
                               {"n_traces": 9, "targeted": 0.4, "random": 0.25})
    assert list(fig.axes[0].lines[0].get_xdata()) == [9.0, 10.0, 100.0]
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.25, 0.5, 0.75]


# ------------------------------------------------------------ pure RL by size
TINY_RL = GRPOConfig(steps=2, lr=1e-4, group_size=2, prompts_per_step=2, temperature=1.0,
                     max_new_tokens=8)


def test_pure_rl_reports_accuracy_and_cost(tok, monkeypatch):
    trained = []

    class Recording(GRPOTrainer):
        def __init__(self, model, *args, **kwargs):
            trained.append(self)
            super().__init__(model, *args, **kwargs)

    monkeypatch.setattr(rl_sweep, "GRPOTrainer", Recording)
    model = make_model(tok.vocab_size, block_size=64)
    before = _params(model).clone()
    point = pure_rl(model, tok, held_out_problems(3), TINY_RL)
    assert point["params"] == model.num_params()
    assert 0.0 <= point["accuracy_before"] <= 1.0 and 0.0 <= point["accuracy_after"] <= 1.0
    assert point["rl_flops"] > 0 and point["rl_tokens"] > 0 and point["rl_seconds"] >= 0
    assert len(trained) == 1
    trainer = trained[0]
    assert trainer.config == TINY_RL and len(trainer.history) == TINY_RL.steps   # its whole config
    # the cost is what the trainer recorded: every rollout's tokens and those it trained on
    record = trainer.spent()
    assert record["params"] == point["params"]
    assert point["rl_flops"] == spent_flops(record) and point["rl_tokens"] == spent_tokens(record)
    rollout_tokens = record["prompt_tokens"] + record["generated_tokens"]
    assert point["rl_tokens"] == rollout_tokens + record["trained_tokens"]
    assert record["trained_tokens"] <= rollout_tokens                          # mu = 1
    # at least the prompts of every rollout, at most prompt + max_new_tokens (+ the end token)
    rollouts = TINY_RL.steps * TINY_RL.group_size * TINY_RL.prompts_per_step
    assert rollouts * 4 < rollout_tokens < rollouts * (40 + TINY_RL.max_new_tokens + 1)
    assert point["rl_flops"] >= 2 * point["params"] * point["rl_tokens"]   # every token is generated
    assert trainer.model is not model                               # RL ran on a copy ...
    assert torch.equal(_params(model), before)                     # ... and left the model alone


def test_pretrained_saves_then_loads_its_checkpoint(tmp_path):
    preset, path = get_preset("tiny"), tmp_path / "base_1x8.pt"
    model, info = pretrained(preset, ModelShape(1, 1, 8), 2, torch.device("cpu"), path)
    assert path.exists() and info["loaded"] is False
    c = model.config
    assert (c.n_layer, c.n_head, c.n_embd) == (1, 1, 8)
    assert info["pretrain_flops"] == 6 * model.num_params() * info["tokens"] > 0
    again, info2 = pretrained(preset, ModelShape(1, 1, 8), 2, torch.device("cpu"), path)
    assert info2["loaded"] is True and info2["pretrain_flops"] == info["pretrain_flops"]
    assert torch.equal(_params(again), _params(model))
    # another shape at the same path is not mistaken for this one
    _, other = pretrained(preset, ModelShape(1, 1, 16), 1, torch.device("cpu"), path)
    assert other["loaded"] is False and other["params"] != info["params"]


CH03 = {"preset": "tiny", "test_problems": 10, "seconds": 90.0, "device": "cpu",
        "methods": [{"tokens_per_problem": 100.0, "inference_flops_per_problem": 2e6}]}


@pytest.mark.parametrize("written, says", [
    ('{"test_problems": 10, "seconds"', "cannot be read (JSONDecodeError)"),       # truncated
    (json.dumps({**seal(CH03), "seconds": 9999.0}), "has no matching checksum"),    # edited
    (json.dumps(CH03), "has no matching checksum"),                                 # no seal
    (json.dumps(seal({**CH03, "preset": "cpu"})), "is from the 'cpu' preset, this run is 'tiny'"),
])
def test_chapter_4_leaves_out_a_chapter_3_file_it_cannot_trust(tiny_pipeline, tmp_path, capsys,
                                                               written, says):
    (tmp_path / "ch03").mkdir()
    (tmp_path / "ch03" / "results.json").write_text(written)
    assert chapter3_row(tiny_pipeline, tmp_path) is None
    printed = capsys.readouterr().out
    assert says in printed and "the bill leaves chapter 3 out" in printed
    assert "python -m ch03_four_methods" in printed
    (tmp_path / "ch03" / "results.json").write_text(json.dumps(seal(CH03)))
    assert chapter3_row(tiny_pipeline, tmp_path)["seconds"] == 90.0


def test_chapter_4_reads_chapter_3_before_it_trains(tmp_path, monkeypatch, capsys):
    (tmp_path / "ch03").mkdir()
    (tmp_path / "ch03" / "results.json").write_text('{"broken')
    def no_training(*args, **kwargs):
        raise RuntimeError("stop: training started")
    monkeypatch.setattr(Pipeline, "run_all", no_training)
    with pytest.raises(RuntimeError, match="training started"):
        run_chapter("tiny", tmp_path, progress=False)
    assert "cannot be read (JSONDecodeError)" in capsys.readouterr().out
