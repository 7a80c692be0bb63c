"""Chapter 4's exercises: checkers for the pieces the chapter builds, and its experiment runners.

Build it (a checker runs your function against the course's own on fixed edge cases, then random
ones from a fixed seed; the framework is chapter 1's `check`):
  4.1 the FLOPs of a run (chapter 3's 6N / 2N rule)           `check_run_flops`
  4.2 the price of a run, in GPU dollars and wall-time dollars  `check_price`
  4.5 the journey pair: where a corrected trace is cut for SFT  `check_journey_pair`
  4.6 grading a planted-error run: recovery and wait rates      `check_recovery_scores`

Experiments (each changes one of the chapter's settings with `override`, runs in well under two
minutes on a 2-core CPU, and keeps everything it trains in memory: nothing is written to runs/):
  4.3 Sky-T1: distil the student on more traces, same steps     `sky_t1_experiment`
  4.4 TinyZero: give the smallest model more pure RL             `tinyzero_experiment`
  4.7 journey learning with more (or fewer) corrected traces    `journey_experiment`

Each experiment runs the chapter's setting and yours side by side, with the same reduced budget
(fewer steps than the chapter, so the two numbers compare with each other, not with the
chapter's), and says how the measured number moved ('higher', 'lower', 'about the same').
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from ch01_what_is_reasoning.arithmetic import (
    ANSWER,
    END_ANSWER,
    END_THINK,
    THINK,
    WAIT,
    random_problem,
    step_by_step_completion,
    to_script,
    trace_text,
)
from course.exercises import Verdict, check, direction
from course.overrides import override

RAISES_VALUE_ERROR = "raises ValueError"

# How far a measured number must move to count as 'higher' or 'lower' (accuracy and rates are
# fractions of the 600 held-out problems; two runs of one setting differ by a few points).
TOLERANCE = {"4.3": 0.03, "4.4": 0.05, "4.7": 0.05}

# The reduced budgets the experiments run at (the chapter's own: 2000 distillation steps, 400
# journey SFT steps, 60 RL steps).
SKY_T1_STEPS = 600
SKY_T1_BASELINE = 100            # traces: the chapter's smallest count
JOURNEY_STEPS = 150
MAX_RL_STEPS = 240
MAX_CORRECTIONS = 8.0


def _close(expected: Any, got: Any, rel: float = 1e-6) -> bool:
    """Numbers (or tuples of numbers) equal to a relative tolerance: dollar amounts of a toy run
    are tiny (1e-6 $), so an absolute tolerance would accept anything."""
    if isinstance(expected, (tuple, list)):
        return (isinstance(got, (tuple, list)) and len(got) == len(expected)
                and all(_close(e, g, rel) for e, g in zip(expected, got)))
    if isinstance(expected, str):
        return got == expected
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return False
    return math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=1e-300)


def _or_value_error(fn: Callable) -> Callable:
    """`fn`, with a ValueError turned into a value the checker can compare (any other exception,
    NotImplementedError included, still propagates)."""
    def wrapped(*args):
        try:
            return fn(*args)
        except ValueError:
            return RAISES_VALUE_ERROR
    return wrapped


# ------------------------------------------------------------------ 4.1 the FLOPs of a run

def _spent(params: int, prompt: int = 0, generated: int = 0, trained: int = 0, scored: int = 0) -> dict:
    from ch01_what_is_reasoning.training import spent
    return spent(params, prompt_tokens=prompt, generated_tokens=generated, trained_tokens=trained,
                 scored_tokens=scored)


def _flops_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    cases = [_spent(1000, trained=10),                 # training: 6N per token
             _spent(1000, prompt=10),                  # a prompt is read: 2N per token
             _spent(1000, generated=10),               # a generated token: 2N (KV cache)
             _spent(1000, scored=10),                  # scored without gradients: 2N
             _spent(1000),                             # nothing spent
             _spent(0, prompt=5, trained=5),           # no parameters, no FLOPs
             _spent(817_920, prompt=4_000, generated=40_000, trained=44_000),   # a GRPO run
             _spent(112_384, trained=1_200_000),       # distillation (SFT)
             _spent(817_920, prompt=30_000, generated=90_000)]   # a teacher writing traces
    for _ in range(20):
        cases.append(_spent(rng.randint(1, 10**7), *(rng.choice([0, rng.randint(1, 10**6)])
                                                      for _ in range(4))))
    return [(c,) for c in cases]


def check_run_flops(run_flops: Callable[[dict], float]) -> Verdict:
    """Exercise 4.1: FLOPs of one run from what it recorded (chapter 3's `spent_flops`)."""
    from ch03_four_methods.training_costs import spent_flops
    return check("4.1", run_flops, spent_flops, _flops_cases(), compare=_close)


# ------------------------------------------------------------------ 4.2 the price of a run

def _price_reference(flops: float, seconds: float, device: str) -> tuple[float, float]:
    from .costs import cost_row
    row = cost_row("exercise 4.2", 0, flops, seconds, device)
    return row["usd"], row["usd_wall"]


def _price_cases(seed: int = 0) -> list:
    from .costs import GPU_PEAK_FLOPS, GPU_UTILIZATION
    rng = random.Random(seed)
    gpu_hour = GPU_PEAK_FLOPS * GPU_UTILIZATION * 3600    # the FLOPs one GPU-hour does
    cases = [(gpu_hour, 3600.0, "cuda"),          # one GPU-hour, both ways: $2 and $2
             (0.0, 3600.0, "cpu"),                # an hour of the CPU VM, no FLOPs
             (gpu_hour, 0.0, "cpu"),              # FLOPs priced at GPU rates wherever they ran
             (1e15, 60.0, "cuda:0"),              # a device index: still a GPU
             (1e15, 7200.0, "mps"),               # a laptop GPU, priced as the CPU VM
             (1e15, 10.0, "cuda:3"),
             (1e15, 10.0, "tpu"),                 # no price for it: ValueError
             (1e15, 10.0, "gpu"),                 # not a torch device name: ValueError
             (3.7e12, 12.5, "cpu"),               # a toy run: tiny amounts
             (2e14, 30.0, "cpu:0"),               # any device may carry an index
             (2e14, 30.0, "mps:0"),
             (2e14, 30.0, "cuda0"),               # only the part before a ":" is the device
             (2e14, 30.0, "CUDA"),                # names are matched exactly: no price
             (2e14, 30.0, "xla:0")]
    for _ in range(15):
        cases.append((10 ** rng.uniform(9, 25), round(rng.uniform(0, 1e5), 2),
                      rng.choice(["cpu", "cuda", "cuda:0", "cuda:1", "mps"])))
    return cases


def check_price(price: Callable[[float, float, str], tuple]) -> Verdict:
    """Exercise 4.2: (dollars for the FLOPs on a rented GPU, dollars for the wall time on the
    device it ran on), as `costs.cost_row` prices them; ValueError for a device with no price."""
    return check("4.2", _or_value_error(price), _or_value_error(_price_reference), _price_cases(),
                 compare=_close,
                 show_case=lambda c: f"flops={c[0]:.6g}, seconds={c[1]:.6g}, device={c[2]!r}")


# ------------------------------------------------------------------ 4.5 the journey pair

def _journey_pair_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    cases = [("(3+4)*2-5?", "<think>(3+4)*2-5 = 8*2-5 wait 7*2-5 = 14-5 = 9</think><answer>9</answer>"),
             ("(3+4)*2-5?", "<think>(3+4)*2-5 = 7*2-5 = 14-5 = 8 wait 9</think><answer>9</answer>"),
             ("(3+4)*2-5?", "<think>(3+4)*2-5 = 7*2-5 = 14-5 = 9</think><answer>9</answer>"),   # clean
             ("۶+۲?", "<think>۶+۲ = ۷ wait ۸</think><answer>۸</answer>"),
             ("2*3?", "<think>2*3 = 4 wait 6</think><answer>6</answer>"),
             # " wait " is a space, wait, a space: nothing else marks a correction
             ("2*3?", "<think>2*3 = 6 wait</think><answer>6</answer>"),
             ("2*3?", "<think>2*3 = 4\nwait\n6</think><answer>6</answer>"),
             ("2*3?", "<think>2*3 = 4 Wait 6</think><answer>6</answer>"),
             ("2*3?", "<think>2*3 = 4 awaited 6</think><answer>6</answer>"),
             ("why wait 2*3?", "<think>2*3 = 6</think><answer>6</answer>")]   # the prompt is not cut
    for i in range(25):
        problem = random_problem(rng, rng.randint(1, 5), rng.choice(["latin", "persian"]))
        corrected = i % 5 != 0          # every fifth a clean solution, kept whole
        cases.append((problem.prompt(), step_by_step_completion(problem, rng, correction=corrected)))
    return cases


def check_journey_pair(journey_pair: Callable[[str, str], tuple]) -> Verdict:
    """Exercise 4.5: the SFT pair of a worked solution (journey.py's `journey_pair`)."""
    from .journey import journey_pair as reference
    return check("4.5", journey_pair, reference, _journey_pair_cases(),
                 show_case=lambda c: f"prompt={c[0]!r}, completion={c[1]!r}")


# ------------------------------------------------------------------ 4.6 grading recovery

def _continuation(problem, prefix: str, kind: str, rng: random.Random) -> str:
    """What a model might write after a planted prefix."""
    answer = to_script(str(problem.answer), problem.script)
    planted = prefix.rsplit(" = ", 1)[-1]          # the wrong expression the prefix ends with
    k = prefix.count(" = ")                        # the planted step's index
    fix = " = ".join(problem.rewrites()[k:])
    close = f"{END_THINK}{ANSWER}{answer}{END_ANSWER}"
    off_by_one = to_script(str(problem.answer + 1), problem.script)
    if kind == "noticed":                          # " wait ", the fix, the right answer
        return f"{WAIT}{fix}{close}"
    if kind == "noticed, wrong answer":            # noticed, but still ends wrong
        return f"{WAIT}{fix}{END_THINK}{ANSWER}{off_by_one}{END_ANSWER}"
    if kind == "accident":                         # never noticed, yet the answer is right
        return close
    if kind == "junk after":                       # right, but text after the answer
        return f"{close} {planted}"
    if kind == "latin answer":                     # a Persian problem answered in Latin digits
        return f"{END_THINK}{ANSWER}{problem.answer}{END_ANSWER}"
    wrong = problem.answer + rng.choice([1, 2])     # took the planted value as given
    return f"{END_THINK}{ANSWER}{to_script(str(wrong), problem.script)}{END_ANSWER}"


def _corrected_prefix(problem, rng: random.Random) -> str:
    """The start of a thinking block that already holds one corrected step ('... wait fix')."""
    trace = trace_text(problem, rng, correction=True)
    end = trace.find(" = ", trace.index(WAIT))
    return THINK + (trace if end < 0 else trace[:end])


def _recovery_cases(seed: int = 0) -> list:
    from .journey import planted_prefix
    rng = random.Random(seed)
    kinds = ["noticed", "noticed, wrong answer", "accident", "junk after", "latin answer", "gave in"]

    def run(problem, kind, prefix=None):
        prefix = planted_prefix(problem, rng) if prefix is None else prefix
        return prefix + _continuation(problem, prefix, kind, rng), prefix, problem.answer

    def case(rows):
        return tuple(list(column) for column in zip(*rows)) if rows else ([], [], [])

    p = [random_problem(rng, n, s) for n, s in
         [(3, "latin"), (4, "persian"), (2, "latin"), (5, "latin"), (3, "persian"), (1, "latin")]]
    cases = [case([]),                                         # nothing to grade: 0 and 0
             case([run(p[0], "noticed")]),
             case([run(p[0], "gave in")]),
             case([run(p[0], "accident")]),                    # recovered without noticing
             case([run(p[2], "noticed, wrong answer")]),       # noticed without recovering
             case([run(p[1], "noticed"), run(p[1], "gave in")]),
             case([run(p[3], "junk after")]),                  # still the right number
             case([run(p[4], "latin answer")]),                # the number is right
             case([run(p[1], "accident"), run(p[4], "noticed")])]
    # prefixes that already hold a corrected step: only what the model wrote after them counts
    cases.append(case([run(p[3], "accident", _corrected_prefix(p[3], rng)), run(p[0], "noticed")]))
    cases.append(case([run(p[4], "gave in", _corrected_prefix(p[4], rng)), run(p[2], "gave in")]))
    # a prefix that holds a correction, and the model writes one of its own: it noticed
    cases.append(case([run(p[3], "noticed", _corrected_prefix(p[3], rng)), run(p[1], "gave in")]))
    cases.append(case([run(p[0], "noticed", _corrected_prefix(p[0], rng))]))
    # a model that writes " wait " twice noticed once: a rate counts runs, not waits
    completion, prefix, answer = run(p[2], "noticed")
    again = WAIT + to_script(str(answer + 3), p[2].script)      # a second try before the fix
    cases.append(case([(prefix + again + completion[len(prefix):], prefix, answer),
                       run(p[5], "gave in")]))
    for _ in range(22):
        rows = []
        for _ in range(rng.randint(1, 6)):
            problem = random_problem(rng, rng.randint(1, 5), rng.choice(["latin", "persian"]))
            rows.append(run(problem, rng.choice(kinds)))
        cases.append(case(rows))
    return cases


def check_recovery_scores(recovery_scores: Callable[[list, list, list], tuple]) -> Verdict:
    """Exercise 4.6: (recovery rate, wait rate) of planted-error runs (journey.py's
    `recovery_scores`)."""
    from .journey import recovery_scores as reference

    def show(c):
        if not c[0]:
            return "no runs: completions=[], prefixes=[], answers=[]"
        return "\n            ".join(
            [f"{len(c[0])} run(s)"] + [f"prefix={p!r}, completion={t!r}, answer={a}"
                                       for t, p, a in zip(*c)])
    return check("4.6", recovery_scores, reference, _recovery_cases(), show_case=show)


# ------------------------------------------------------------------ the experiments

def _pipeline(pipeline, progress: bool):
    if pipeline is not None:
        return pipeline
    from ch02_r1_pipeline.runner import open_pipeline
    return open_pipeline(None, progress=progress)   # loads chapter 2's models read-only


def _chapter_settings(pipeline, changes: dict):
    from .chapter import SETTINGS
    return override(SETTINGS[pipeline.preset.name], changes)


def sky_t1_experiment(n_traces: int, *, baseline: int = SKY_T1_BASELINE, steps: int = SKY_T1_STEPS,
                      pipeline=None, progress: bool = True) -> dict:
    """Exercise 4.3: the student distilled on `baseline` random teacher traces and on `n_traces`,
    with the same number of SFT steps (`distill_steps`), and scored on the held-out set."""
    from ch02_r1_pipeline.tasks import evaluate

    from .chapter import trace_pool
    from .distillation import data_efficiency
    pipeline = _pipeline(pipeline, progress)
    if not isinstance(n_traces, int) or isinstance(n_traces, bool) or n_traces < 1:
        raise ValueError(f"N_TRACES is a number of traces >= 1, got {n_traces!r}")
    s = _chapter_settings(pipeline, {"distill_steps": steps,
                                     "trace_counts": tuple(sorted({baseline, n_traces}))})
    pool = trace_pool(pipeline, s, progress)
    if n_traces > len(pool) or baseline > len(pool):
        raise ValueError(f"the teacher's pool holds {len(pool)} traces: choose N_TRACES <= {len(pool)}")
    student = pipeline.model("student_base")
    points = data_efficiency(student, pool, pipeline.tokenizer, pipeline.test, s.trace_counts,
                             steps=s.distill_steps, lr=s.distill_lr, progress=progress)
    before = evaluate(student, pipeline.tokenizer, pipeline.test)["accuracy"]
    runs = [{"label": f"{n} traces" + (" (baseline)" if n == baseline else " (yours)"),
             "n_traces": n, "accuracy": points[n]["accuracy"], "tokens": points[n]["tokens"]}
            for n in (baseline, n_traces)]
    return {"exercise": "4.3", "setting": {"n_traces": n_traces}, "steps": s.distill_steps,
            "pool": len(pool), "student_before": before, "runs": runs, "metric": "accuracy",
            "measured": direction(runs[0]["accuracy"], runs[1]["accuracy"], TOLERANCE["4.3"])}


def tinyzero_experiment(rl_steps: int, *, stage: str = "student_base", pipeline=None,
                        progress: bool = True) -> dict:
    """Exercise 4.4: the sweep's pure-RL recipe (R1-Zero's GRPO) on chapter 2's smallest
    pretrained model, for R1-Zero's number of steps and for `rl_steps`."""
    from .chapter import sweep_config
    from .rl_sweep import pure_rl
    pipeline = _pipeline(pipeline, progress)
    if not isinstance(rl_steps, int) or isinstance(rl_steps, bool) or not 1 <= rl_steps <= MAX_RL_STEPS:
        raise ValueError(f"RL_STEPS is a whole number of steps from 1 to {MAX_RL_STEPS}, got {rl_steps!r}")
    config = sweep_config(pipeline)
    model = pipeline.model(stage)
    runs = []
    for steps, who in ((config.steps, "baseline"), (rl_steps, "yours")):
        point = pure_rl(model, pipeline.tokenizer, pipeline.test, override(config, {"steps": steps}),
                        progress=progress)
        runs.append({"label": f"{steps} RL steps ({who})", "rl_steps": steps, **point})
    return {"exercise": "4.4", "setting": {"rl_steps": rl_steps}, "stage": stage,
            "params": model.num_params(), "runs": runs, "metric": "accuracy_after",
            "measured": direction(runs[0]["accuracy_after"], runs[1]["accuracy_after"],
                                  TOLERANCE["4.4"])}


def journey_experiment(corrections: float, *, steps: int = JOURNEY_STEPS, pipeline=None,
                       progress: bool = True) -> dict:
    """Exercise 4.7: chapter 1's base fine-tuned with the chapter's number of corrected traces
    per problem (`journey_corrections`) and with `corrections`, the same SFT steps each; their
    clean accuracy, recovery rate and wait rate on the held-out set."""
    from .chapter import journey_run
    pipeline = _pipeline(pipeline, progress)
    if (not isinstance(corrections, (int, float)) or isinstance(corrections, bool)
            or not 0 <= corrections <= MAX_CORRECTIONS):
        raise ValueError(f"CORRECTIONS is a number of corrected traces per problem from 0 to "
                         f"{MAX_CORRECTIONS}, got {corrections!r}")
    chapter = _chapter_settings(pipeline, {"journey_steps": steps})
    base = pipeline.model("base")
    runs = []
    for value, who in ((chapter.journey_corrections, "baseline"), (float(corrections), "yours")):
        s = override(chapter, {"journey_corrections": value})
        numbers, result = journey_run(base, pipeline.tokenizer, pipeline.test, s.journey_corrections,
                                      s, f"{value:g} corrections ({who})", progress)
        numbers.pop("example_planted")
        runs.append({"label": f"{value:g} per problem ({who})", "corrections": value, **numbers})
    return {"exercise": "4.7", "setting": {"corrections": corrections}, "steps": steps,
            "runs": runs, "metric": "recovery_rate",
            "measured": direction(runs[0]["recovery_rate"], runs[1]["recovery_rate"],
                                  TOLERANCE["4.7"])}


def plot_runs(result: dict, metrics: dict, title: str = "", ax=None):
    """Grouped bars of an experiment: one group per metric (`{key: axis label}`, each a fraction
    of the held-out problems), one bar per run (the baseline grey, yours blue)."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(7, 3.4))[1]
    runs, width = result["runs"], 0.8 / len(result["runs"])
    if len(metrics) == 1:
        width /= 2                                 # one group: narrower bars
    for i, (run, color) in enumerate(zip(runs, ("0.6", "tab:blue", "tab:orange"))):
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(metrics))]
        values = [run[key] for key in metrics]
        bars = ax.bar(xs, values, width, label=run["label"], color=color)
        ax.bar_label(bars, [f"{v:.1%}" for v in values], fontsize=8)
    ax.set_xticks(range(len(metrics)), list(metrics.values()))
    ax.set_xlim(-0.6, len(metrics) - 0.4)
    top = max(run[key] for run in runs for key in metrics)
    ax.set_ylim(0, min(1.15, 1.3 * top + 0.05))    # room for the labels and the legend
    ax.set_ylabel("share of held-out problems")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return ax
