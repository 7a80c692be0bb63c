"""Journey learning vs shortcut learning (O1 Replication Journey, arXiv 2410.18982).

Shortcut learning trains only on clean, correct paths. Journey learning also shows the path
being walked: some traces contain a wrong step, then " wait " and the right one. Both are SFT
of the same base on the same problems; they differ only in the traces.

The test is a planted error: the model's thinking is started for it with the first steps of
a trace whose last written step is wrong ("(3+4)*2-5 = 8*2-5"), and it continues from there.
A model that only ever saw clean paths takes its own wrong step as given; one that saw
corrections can notice, write " wait " and redo the step. The recovery rate is the share of
such planted-error problems it still answers correctly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ch01_what_is_reasoning.arithmetic import WAIT, step_by_step_completion
from ch01_what_is_reasoning.sampling import generate
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.slip_world import planted_prefix  # chapter 2's aha world plants them too
from ch02_r1_pipeline.tasks import random_train_problem


def sft_traces(n: int, corrections: float = 0.0, seed: int = 0) -> list[tuple[str, str]]:
    """SFT pairs for `n` training problems: every problem's clean worked solution (shortcut
    learning, `corrections=0`), plus `corrections` x n traces of the same problems worked with
    one wrong step (at a random place), " wait " and the fix (journey learning).

    A corrected trace is split after its wrong step: everything before it, the wrong step
    included, joins the prompt, so SFT learns to *notice and fix* a mistake but is never
    trained to *make* one. Measured on the CPU preset: trained on whole corrected traces
    instead, the model also learned to make mistakes and lost 9 points of clean accuracy;
    trained on split traces *instead of* clean ones, it lost 4-6 points, because it saw fewer
    traces from the start. So both sets hold the same clean traces; journey adds corrections.
    """
    if corrections < 0:
        raise ValueError(f"corrections is a number of traces per problem >= 0, got {corrections}")
    problems_rng, choice_rng = random.Random(f"sft-traces-{seed}"), random.Random(f"journey-{seed}")
    problems = [random_train_problem(problems_rng) for _ in range(n)]
    pairs = [(p.prompt(), step_by_step_completion(p, choice_rng)) for p in problems]
    for i in range(round(n * corrections)):
        problem = problems[i % n]
        pairs.append(journey_pair(problem.prompt(),
                                  step_by_step_completion(problem, choice_rng, correction=True)))
    return pairs


def journey_pair(prompt: str, completion: str) -> tuple[str, str]:
    """The SFT pair of one worked solution. A corrected one is cut right before its " wait ":
    the prompt gets everything up to and including the wrong step, the completion starts with
    " wait " (its leading space included) and the fix. A clean solution stays whole."""
    cut = completion.find(WAIT)
    if cut < 0:
        return prompt, completion
    return prompt + completion[:cut], completion[cut:]


@dataclass
class Recovery:
    recovery_rate: float   # planted-error problems still answered correctly
    wait_rate: float       # continuations that wrote " wait " (noticed the error)
    n_problems: int
    completions: list[str]


def recovery_rate(model, tokenizer, problems, seed: int = 0, batch_size: int = 512) -> Recovery:
    """Plant a wrong step in every problem's thinking, let the model go on (greedy), grade it."""
    rng = random.Random(f"planted-{seed}")
    prefixes = [planted_prefix(p, rng) for p in problems]
    ids = [tokenizer.encode(p.prompt() + prefix, bos=True) for p, prefix in zip(problems, prefixes)]
    room = model.config.block_size - max(map(len, ids), default=0)
    out = generate(model, ids, max_new_tokens=max(1, room), eos_id=tokenizer.eos_id,
                   pad_id=tokenizer.pad_id, batch_size=batch_size)
    completions = [prefix + tokenizer.decode(t) for prefix, t in zip(prefixes, out.tokens)]
    recovered, noticed = recovery_scores(completions, prefixes, [p.answer for p in problems])
    return Recovery(recovered, noticed, len(problems), completions)


def recovery_scores(completions: list[str], prefixes: list[str], answers: list) -> tuple[float, float]:
    """(recovery rate, wait rate) of planted-error runs: each completion is its planted prefix
    followed by what the model wrote. Recovered: `verify` finds the right answer, whether or not
    the model noticed. Noticed: the model itself wrote " wait " (after the prefix). 0 of 0 is 0."""
    n = max(1, len(completions))
    correct = sum(verify(c, a).correct for c, a in zip(completions, answers))
    noticed = sum(WAIT in c[len(prefix):] for c, prefix in zip(completions, prefixes))
    return correct / n, noticed / n
