"""Sky-T1 at toy scale: how many teacher traces does a distilled student need, and which ones?

Sky-T1 fine-tuned a 32B model on only 17K traces, rejection-sampled from a stronger reasoner
and chosen for difficulty. Here the teacher is chapter 2's R1, the student chapter 2's small
pretrained model, and the knobs are the number of traces and how they are chosen. Every run
takes the same number of SFT steps, so the curves compare data, not compute.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

from tqdm.auto import tqdm

from ch01_what_is_reasoning.arithmetic import step_by_step_completion
from ch01_what_is_reasoning.training import PROGRESS_SECONDS
from ch02_r1_pipeline.sft import rejection_sample, sft
from ch02_r1_pipeline.tasks import evaluate, random_train_problem


@dataclass
class Trace:
    prompt: str
    completion: str
    n_ops: int          # the problem's number of operations: its difficulty


def teacher_traces(teacher, tokenizer, n_problems: int, seed: int = 0,
                   progress: bool = False) -> list[Trace]:
    """One sample per training problem from the teacher (temperature 1), kept only when correct,
    well-formed and in the prompt's script: chapter 2's rejection sampling."""
    rng = random.Random(f"teacher-traces-{seed}")
    problems = [random_train_problem(rng) for _ in range(n_problems)]
    ops = {p.prompt(): p.n_ops for p in problems}
    kept = rejection_sample(teacher, tokenizer, problems, k=1, progress=progress)["kept"]
    return [Trace(prompt, completion, ops[prompt]) for prompt, completion in kept]


def worked_traces(n_problems: int, seed: int = 0) -> list[Trace]:
    """The world's own worked solutions, for when there is no teacher worth sampling (the tiny
    preset of the tests, whose R1 gets nothing right). Same problems as `teacher_traces`."""
    rng = random.Random(f"teacher-traces-{seed}")
    problems = [random_train_problem(rng) for _ in range(n_problems)]
    return [Trace(p.prompt(), step_by_step_completion(p, rng), p.n_ops) for p in problems]


def choose(traces: list[Trace], n: int, how: str, seed: int = 0) -> list[Trace]:
    """`n` traces, either at random or the hardest first (most operations; ties at random)."""
    if not 1 <= n <= len(traces):
        raise ValueError(f"cannot choose {n} traces from a pool of {len(traces)}")
    shuffled = random.Random(f"choose-{seed}").sample(traces, len(traces))
    if how == "random":
        return shuffled[:n]
    if how == "targeted":
        return sorted(shuffled, key=lambda t: -t.n_ops)[:n]   # sorted() is stable: ties stay shuffled
    raise ValueError(f"unknown choice {how!r}: use 'random' or 'targeted'")


def distill(student, traces: list[Trace], tokenizer, *, steps: int, lr: float, batch_size: int = 16,
            seed: int = 0, progress: bool = False):
    """A copy of `student` fine-tuned on `traces`; the original is left untouched."""
    model = copy.deepcopy(student).train()
    result = sft(model, [(t.prompt, t.completion) for t in traces], tokenizer, steps=steps,
                 batch_size=batch_size, lr=lr, seed=seed, desc=f"distill on {len(traces)}",
                 progress=progress)
    return model.eval(), result


def data_efficiency(student, pool: list[Trace], tokenizer, test, sizes, *, steps: int, lr: float,
                    seed: int = 0, progress: bool = False) -> dict:
    """{n_traces: {"accuracy", "tokens"}}: held-out accuracy of the student distilled on `n`
    random traces of `pool`, for every n in `sizes` (same steps each)."""
    out = {}
    for n in tqdm(sizes, desc="data efficiency", disable=not progress, leave=False,
                  mininterval=PROGRESS_SECONDS):
        model, result = distill(student, choose(pool, n, "random", seed), tokenizer, steps=steps,
                                lr=lr, seed=seed)
        out[n] = {"accuracy": evaluate(model, tokenizer, test)["accuracy"], "tokens": result.tokens,
                  "seconds": result.seconds}
    return out
