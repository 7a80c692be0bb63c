"""Run all of chapter 4 headless (sections 1-4): the CLI and the notebook call this.

Chapter 2's models are loaded from runs/ch02 (trained if missing). Then:
  2. Sky-T1: the student distilled on more and more teacher traces; hardest vs random traces
  3. TinyZero: the same pure-RL recipe on models of several sizes
  4. journey vs shortcut learning: clean accuracy and recovery from a planted wrong step
  1. the bill: tokens, FLOPs, seconds and dollars of every run, chapters 1-4
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt

from ch02_r1_pipeline.recipe import SEED_STRIDE
from ch02_r1_pipeline.runner import open_pipeline
from ch02_r1_pipeline.sft import sft
from ch02_r1_pipeline.tasks import evaluate
from ch03_four_methods.compute import inference_flops, training_flops
from ch03_four_methods.training_costs import own_flops, spent_tokens
from course.cache import is_sealed
from course.overrides import override, split_overrides
from course.runtime import ModelShape, runs_dir, write_json
from course.setting_ranges import check_settings

from .costs import cost_row
from .distillation import choose, data_efficiency, distill, teacher_traces, worked_traces
from .journey import recovery_rate, sft_traces
from .plots import plot_costs, plot_data_efficiency, plot_journey, plot_rl_sweep
from .rl_sweep import pretrained, pure_rl

MISSING = object()   # course_costs reads chapter 3's row itself when it is not given


@dataclass(frozen=True)
class Settings:
    teacher_problems: int = 3200          # teacher samples, one per problem (~97% are kept)
    trace_counts: tuple = (100, 300, 1000, 3000)
    distill_steps: int = 2000             # the same for every count: data varies, compute not
    distill_lr: float = 2e-3
    targeted_n: int = 300                 # the small budget where the choice of traces matters
    # sizes from chapter 2's student to its base, every one pretrained on the same tokens as the
    # student (its steps and batch); the base's own shape is among them, so chapter 2's base (twice
    # the steps) also shows what longer pretraining buys at one size
    sweep_shapes: tuple = (ModelShape(3, 4, 96), ModelShape(4, 4, 128))
    sweep_pretrain_steps: int = 1500      # as chapter 2's student
    journey_problems: int = 1000
    journey_corrections: float = 2.0      # corrected traces per problem (measured: 0.5 and 1
                                          # taught too little noticing, 3 too many false alarms)
    journey_steps: int = 400
    journey_lr: float = 1e-3
    teacher: str = "r1"                   # or "worked solutions": the world's own traces


SETTINGS = {
    "tiny": Settings(teacher_problems=24, trace_counts=(4, 8), distill_steps=3, targeted_n=4,
                     sweep_shapes=(ModelShape(1, 1, 8), ModelShape(1, 2, 32)),
                     sweep_pretrain_steps=5, journey_problems=8,
                     journey_steps=3, teacher="worked solutions"),
    "cpu": Settings(),
    "gpu": Settings(teacher_problems=12000, trace_counts=(100, 300, 1000, 3000, 10000),
                    distill_steps=6000, targeted_n=1000,
                    sweep_shapes=(ModelShape(3, 4, 96), ModelShape(4, 4, 128), ModelShape(6, 6, 192)),
                    sweep_pretrain_steps=4000, journey_problems=3000, journey_steps=1500),
}


def run_chapter(preset: str | None = None, root=None, progress: bool = True,
                overrides: dict | None = None) -> dict:
    """Every section, then the bill. `overrides`: this chapter's settings by name
    ({"journey_steps": 200}); any other key goes to chapter 2's pipeline.

    The notebook takes the same steps one section at a time, with the same functions."""
    start = time.perf_counter()
    pipeline, s, ch03 = open_chapter(preset, root, progress, overrides)
    sky_t1 = sky_t1_section(pipeline, s, progress)
    tinyzero = tinyzero_section(pipeline, s, root, progress)
    journey = journey_section(pipeline, s, progress)
    results = collect_results(pipeline, s, ch03, sky_t1, tinyzero, journey,
                              time.perf_counter() - start, root)
    save_results(results, runs_dir("ch04", root))
    return results


def open_chapter(preset: str | None = None, root=None, progress: bool = True,
                 overrides: dict | None = None):
    """Chapter 2's pipeline with every stage loaded (or trained), this chapter's settings and
    chapter 3's line of the bill, all checked before any of this chapter's training."""
    mine, theirs = split_overrides(Settings(), overrides)
    pipeline = open_pipeline(preset, root, progress, overrides=theirs)
    s = override(SETTINGS[pipeline.preset.name], mine)
    # in range before any work (the pipeline checked its own keys when it opened)
    check_settings(s, context={"model_stages": pipeline.model_stages()})
    ch03 = chapter3_row(pipeline, root)   # checked now, not after all the training below
    pipeline.run_all()
    return pipeline, s, ch03


def collect_results(pipeline, s: Settings, ch03, sky_t1, tinyzero, journey, seconds: float,
                    root=None) -> dict:
    """The results.json contract (keys are never renamed; new ones may be added), from what
    the three sections returned; the bill gets the wall time no section charged."""
    (sky, sky_rows), (sweep, sweep_rows, loaded_seconds), (journeys, journey_rows) = (
        sky_t1, tinyzero, journey)
    runs = sky_rows + sweep_rows + journey_rows
    results = {"preset": pipeline.preset.name, "seed": pipeline.settings.seed,
               "device": str(pipeline.device), "seconds": seconds,
               "costs": course_costs(pipeline, root, ch03) + runs, **sky, "rl_size_sweep": sweep,
               "size_or_pretraining": size_or_pretraining(sweep, s.sweep_pretrain_steps),
               "journey": journeys, "test_problems": len(pipeline.test)}
    results["costs"].append(rest_of_the_wall_time(pipeline, seconds, runs, loaded_seconds))
    return results


def sky_t1_section(pipeline, s: Settings, progress: bool):
    """2. Sky-T1 at toy scale: the student distilled on more and more teacher traces, and the
    hardest traces against random ones. Returns (results, cost rows)."""
    tok, test, device, rows = pipeline.tokenizer, pipeline.test, str(pipeline.device), []
    seed = pipeline.settings.seed   # the course seed: which traces, in which order
    student = pipeline.model("student_base")
    t0 = time.perf_counter()
    pool = trace_pool(pipeline, s, progress)
    pool_tokens = sum(len(tok.encode(t.prompt + t.completion, bos=True)) for t in pool)
    sampled = 0 if s.teacher == "worked solutions" else pool_tokens   # the world's traces are free
    teacher_params = pipeline.model(s.teacher if s.teacher in pipeline.stages else "r1").num_params()
    rows.append(cost_row(f"ch04 teacher traces ({s.teacher})", pool_tokens,
                         inference_flops(teacher_params, sampled), time.perf_counter() - t0, device))
    efficiency = data_efficiency(student, pool, tok, test, s.trace_counts, steps=s.distill_steps,
                                 lr=s.distill_lr, seed=seed, progress=progress)
    for n, point in efficiency.items():
        rows.append(cost_row(f"ch04 distill on {n} traces", point["tokens"],
                             training_flops(student.num_params(), point["tokens"]),
                             point["seconds"], device))
    targeted_model, result = distill(student, choose(pool, s.targeted_n, "targeted", seed), tok,
                                     steps=s.distill_steps, lr=s.distill_lr, seed=seed,
                                     progress=progress)
    rows.append(cost_row(f"ch04 distill on {s.targeted_n} hardest traces", result.tokens,
                         training_flops(student.num_params(), result.tokens), result.seconds, device))
    random_n = efficiency[s.targeted_n]["accuracy"] if s.targeted_n in efficiency else None
    if random_n is None:
        random_model, _ = distill(student, choose(pool, s.targeted_n, "random", seed), tok,
                                  steps=s.distill_steps, lr=s.distill_lr, seed=seed)
        random_n = evaluate(random_model, tok, test)["accuracy"]
    targeted = {"targeted": evaluate(targeted_model, tok, test)["accuracy"], "random": random_n,
                "n_traces": s.targeted_n,
                "hardest_ops": sorted({t.n_ops for t in choose(pool, s.targeted_n, "targeted", seed)})}
    return ({"data_efficiency": {n: p["accuracy"] for n, p in efficiency.items()},
             "targeted_vs_random": targeted, "teacher_traces": len(pool),
             "student_accuracy": pipeline.run("student_base")["eval"]["accuracy"]}, rows)


def trace_pool(pipeline, s: Settings, progress: bool = False) -> list:
    """The traces the student is distilled on: the teacher's, rejection-sampled (one sample per
    problem), or the world's worked solutions when `s.teacher` says so."""
    seed = pipeline.settings.seed
    if s.teacher == "worked solutions":   # tiny preset: its R1 writes nothing correct
        return worked_traces(s.teacher_problems, seed)
    return teacher_traces(pipeline.model(s.teacher), pipeline.tokenizer, s.teacher_problems,
                          seed=seed, progress=progress)


def sweep_config(pipeline):
    """The sweep's pure-RL recipe: R1-Zero's settings, with the sweep's own prompt stream (seed
    0, as in the first edition, moved by the course seed like every RL stage's)."""
    return dataclasses.replace(pipeline.stage("r1_zero").settings,
                               seed=SEED_STRIDE * pipeline.settings.seed)


def tinyzero_section(pipeline, s: Settings, root, progress: bool):
    """3. TinyZero at toy scale: R1-Zero's recipe on models of several sizes. Returns (the
    sweep, cost rows, seconds of pretraining that an earlier call paid for)."""
    tok, test, device, rows, loaded_seconds = pipeline.tokenizer, pipeline.test, pipeline.device, [], 0.0
    config = sweep_config(pipeline)
    sweep = [_chapter2_point(pipeline, "student_base", "student_rl")]
    for shape in s.sweep_shapes:
        name = f"base_{shape.n_layer}x{shape.n_embd}.pt"
        model, info = pretrained(pipeline.preset, shape, s.sweep_pretrain_steps, device,
                                 runs_dir("ch04", root) / name, progress=progress)
        point = pure_rl(model, tok, test, config, progress=progress)
        sweep.append({**point, "shape": [shape.n_layer, shape.n_head, shape.n_embd],
                      "pretrain_steps": s.sweep_pretrain_steps,
                      "pretrain_flops": info["pretrain_flops"], "source": "chapter 4"})
        rows.append(cost_row(f"ch04 pretrain {shape.n_layer}x{shape.n_embd}", info["tokens"],
                             info["pretrain_flops"], info["seconds"], info["device"]))
        loaded_seconds += info["seconds"] if info["loaded"] else 0.0   # paid by an earlier call
        rows.append(cost_row(f"ch04 pure RL {shape.n_layer}x{shape.n_embd}", point["rl_tokens"],
                             point["rl_flops"], point["rl_seconds"], str(device)))
    sweep.append(_chapter2_point(pipeline, "base", "r1_zero"))
    sweep.sort(key=lambda p: (p["params"], p["pretrain_steps"]))
    return sweep, rows, loaded_seconds


def size_or_pretraining(sweep: list[dict], steps: int) -> dict:
    """The sweep's two questions, answered apart. `same_tokens`: every size pretrained for `steps`
    steps (the same tokens), smallest first: what size alone buys. `same_size`: for each shape
    pretrained for more than one number of steps, its points by steps: what longer pretraining
    alone buys. Accuracies are greedy, held-out, before and after the same pure RL."""
    def row(p):
        return {"params": p["params"], "shape": p["shape"], "pretrain_steps": p["pretrain_steps"],
                "accuracy_before": p["accuracy_before"], "accuracy_after": p["accuracy_after"],
                "rl_gain": p["accuracy_after"] - p["accuracy_before"]}

    shapes = {}
    for p in sweep:
        shapes.setdefault(tuple(p["shape"]), []).append(row(p))
    return {"pretrain_steps": steps,
            "same_tokens": [row(p) for p in sweep if p["pretrain_steps"] == steps],
            "same_size": [sorted(points, key=lambda r: r["pretrain_steps"])
                          for points in shapes.values() if len(points) > 1]}


def journey_section(pipeline, s: Settings, progress: bool):
    """4. Journey vs shortcut learning: clean accuracy and recovery from a planted wrong step.
    Returns (results, cost rows)."""
    tok, test, device, rows, journey = pipeline.tokenizer, pipeline.test, str(pipeline.device), [], {}
    base = pipeline.model("base")
    for name, corrections in (("shortcut", 0.0), ("journey", s.journey_corrections)):
        journey[name], result = journey_run(base, tok, test, corrections, s, name, progress,
                                            seed=pipeline.settings.seed)
        rows.append(cost_row(f"ch04 SFT {name}", result.tokens,
                             training_flops(base.num_params(), result.tokens), result.seconds, device))
    base_recovery = recovery_rate(base, tok, test)
    journey["base"] = {"accuracy": pipeline.run("base")["eval"]["accuracy"],
                       "recovery_rate": base_recovery.recovery_rate,
                       "wait_rate": base_recovery.wait_rate}
    return journey, rows


def journey_run(base, tokenizer, test, corrections: float, s: Settings, name: str = "journey",
                progress: bool = False, seed: int = 0):
    """A copy of `base` fine-tuned on `s.journey_problems` problems' clean traces plus
    `corrections` corrected traces per problem (0: shortcut learning), then scored on `test`:
    (its clean accuracy, recovery and wait rates, the SFT's TrainResult)."""
    pairs = sft_traces(s.journey_problems, corrections, seed)
    model = copy.deepcopy(base).train()
    result = sft(model, pairs, tokenizer, steps=s.journey_steps, batch_size=16, lr=s.journey_lr,
                 seed=seed, desc=f"SFT ({name})", progress=progress)
    model.eval()
    recovery = recovery_rate(model, tokenizer, test)
    return ({"accuracy": evaluate(model, tokenizer, test)["accuracy"],
             "recovery_rate": recovery.recovery_rate, "wait_rate": recovery.wait_rate,
             "examples": len(pairs), "example_planted": recovery.completions[:3]}, result)


def rest_of_the_wall_time(pipeline, seconds: float, runs: list[dict], loaded_seconds: float) -> dict:
    """The rest of this call's wall time (evaluation, recovery tests, loading): the seconds no
    row charges yet, so that summing the bill counts every second once."""
    charged = sum(r["seconds"] for r in runs) - loaded_seconds + sum(
        pipeline.run(stage).get("seconds") or 0.0 for stage in pipeline.stages
        if pipeline.run(stage).get("loaded") is False)   # chapter 2 stages trained by this call
    return cost_row("ch04 evaluation and the rest (wall time)", 0, 0, max(0.0, seconds - charged),
                    str(pipeline.device))


def _chapter2_point(pipeline, base_stage: str, rl_stage: str) -> dict:
    """A sweep point chapter 2 already measured (same recipe: R1-Zero's GRPO)."""
    base, rl = pipeline.run(base_stage), pipeline.run(rl_stage)
    model = pipeline.model(base_stage)
    c = model.config
    return {"params": model.num_params(), "accuracy_before": base["eval"]["accuracy"],
            "accuracy_after": rl["eval"]["accuracy"],
            "tokens_before": base["eval"]["mean_response_tokens"],
            "tokens_after": rl["eval"]["mean_response_tokens"], "rl_seconds": rl["seconds"],
            "rl_flops": own_flops(pipeline, rl_stage), "shape": [c.n_layer, c.n_head, c.n_embd],
            "pretrain_steps": pipeline.stage(base_stage).settings.pretrain_steps,
            "pretrain_flops": own_flops(pipeline, base_stage), "source": f"chapter 2 ({rl_stage})"}


def course_costs(pipeline, root=None, ch03=MISSING) -> list[dict]:
    """Cost rows for the runs of chapters 1-3 (from what every stage recorded it spent);
    `ch03`: chapter 3's row as `chapter3_row` read it (read here if not given)."""
    rows, device = [], str(pipeline.device)
    for stage in pipeline.stages:
        info = pipeline.run(stage)
        chapter = "ch01" if stage == "base" else "ch02"
        rows.append(cost_row(f"{chapter} {stage}", spent_tokens(info["spent"]),
                             own_flops(pipeline, stage), info.get("seconds") or 0.0,
                             info.get("device", device)))
    ch03 = chapter3_row(pipeline, root) if ch03 is MISSING else ch03
    return rows + ([ch03] if ch03 else [])



def chapter3_row(pipeline, root=None) -> dict | None:
    """Chapter 3's line of the bill, from its results.json, read and checked before chapter 4
    trains anything. None (and one line saying why) when the file is missing, damaged, edited
    since chapter 3 wrote it, or from another preset: the bill then leaves chapter 3 out."""
    path = runs_dir("ch03", root) / "results.json"
    rerun = "run chapter 3 (python -m ch03_four_methods) to bill it"
    if not path.exists():
        print(f"{path} is missing (chapter 3 was not run here): the bill leaves chapter 3 out")
        return None
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        problem = f"cannot be read ({type(err).__name__})"
    else:
        if not is_sealed(r):
            problem = ("has no matching checksum (edited since chapter 3 wrote it, or written by "
                       "an older version of the course)")
        elif r.get("preset") != pipeline.preset.name:
            problem = f"is from the {r.get('preset')!r} preset, this run is {pipeline.preset.name!r}"
        else:
            n = r["test_problems"]
            tokens = sum(m["tokens_per_problem"] for m in r["methods"]) * n
            flops = sum(m["inference_flops_per_problem"] for m in r["methods"]) * n
            return cost_row("ch03 every inference strategy on the test set", tokens, flops,
                            r["seconds"], r["device"])
    print(f"{path} {problem}: the bill leaves chapter 3 out; {rerun}")
    return None


def save_results(results: dict, out_dir) -> None:
    plot_costs(results["costs"], path=out_dir / "costs.png")
    plot_data_efficiency(results["data_efficiency"], results["targeted_vs_random"],
                         baseline=results.get("student_accuracy"), path=out_dir / "data_efficiency.png")
    plot_rl_sweep(results["rl_size_sweep"], path=out_dir / "rl_size_sweep.png")
    plot_journey(results["journey"], path=out_dir / "journey.png")
    write_json(out_dir / "results.json", results)
    plt.close("all")


def summary_table(results: dict, costs: bool = True) -> str:
    """The chapter's numbers as text; `costs=False` leaves out the bill (shown on its own)."""
    lines = [f"preset {results['preset']} on {results['device']}: {results['seconds']:.0f} s, "
             f"{results['test_problems']} held-out problems", "",
             "Sky-T1 at toy scale: distilled student accuracy by number of teacher traces"]
    lines += [f"  {n:>6} traces: {a:6.1%}" for n, a in results["data_efficiency"].items()]
    t = results["targeted_vs_random"]
    lines += [f"  {t['n_traces']} traces: hardest {t['targeted']:.1%} vs random {t['random']:.1%}",
              "", "TinyZero at toy scale: the same pure-RL recipe by model size"]
    lines += [f"  {p['params']:>9,} params, {p['pretrain_steps']:>5,} pretraining steps: "
              f"{p['accuracy_before']:6.1%} -> {p['accuracy_after']:6.1%}  ({p['source']})"
              for p in results["rl_size_sweep"]]
    lines += ["", "Journey vs shortcut learning"]
    lines += [f"  {k:<9} clean accuracy {v['accuracy']:6.1%}, recovery from a planted error "
              f"{v['recovery_rate']:6.1%}" for k, v in results["journey"].items()]
    if not costs:
        return "\n".join(lines)
    lines += ["", f"{'run':<48} {'tokens':>10} {'FLOPs':>10} {'seconds':>8} {'$ (GPU)':>10} "
                  f"{'$ (wall)':>9}"]
    lines += [f"{r['run']:<48} {r['tokens']:>10.3g} {r['flops']:>10.3g} {r['seconds']:>8.1f} "
              f"{r['usd']:>10.2g} {r['usd_wall']:>9.2g}" for r in results["costs"]]
    return "\n".join(lines)
