"""The pretraining corpus: mostly direct answers, fewer worked solutions, drills and facts.

The mix is what chapter 2's RL starts from, so it is chosen on purpose:
- most problems are answered directly (the base model's habit is to answer at once);
- fewer come with a worked solution, some in the R1 template, some as plain text, in both
  digit scripts, a few mixing scripts mid-trace and a few correcting a wrong step;
- "drills" are lines of single steps ("47+8=55 12*3=36 ..."): cheap, short examples that make
  each step almost perfect, so a chain of steps rarely breaks;
- facts ("zig?" -> 42) are stated for the seen half of the fact table only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .arithmetic import (
    Problem,
    direct_completion,
    fact_completion,
    fact_prompt,
    is_held_out,
    make_facts,
    plain_worked_completion,
    random_problem,
    step_by_step_completion,
    to_script,
)


@dataclass
class CorpusMix:
    max_ops: int = 5
    worked_fraction: float = 0.4       # problems that come with a worked solution
    template_fraction: float = 0.75    # of worked solutions: in <think>..</think> (rest plain)
    persian_fraction: float = 0.3      # problems written in Persian digits
    mixed_fraction: float = 0.15       # of worked solutions: steps in random scripts
    correction_fraction: float = 0.03  # of worked solutions: one wrong step, then 'wait'
    drill_fraction: float = 0.2        # documents that are lines of single steps
    fact_fraction: float = 0.05        # documents that state a seen fact
    fact_think_fraction: float = 0.3   # of fact documents: recall the fact inside <think>
    drill_steps: int = 8               # steps per drill line
    empty_think_fraction: float = 0.5  # of direct answers: '<think></think><answer>' (rest
                                       # '<answer>' alone)


@dataclass(frozen=True)
class Example:
    """One document: a prompt and the completion the model should write after it."""

    prompt: str
    completion: str
    answer: str = ""
    kind: str = ""


def problem_example(problem: Problem, rng: random.Random, mix: CorpusMix) -> Example:
    answer = to_script(str(problem.answer), problem.script)
    if rng.random() >= mix.worked_fraction:
        empty_think = rng.random() < mix.empty_think_fraction
        completion, kind = direct_completion(answer, empty_think=empty_think), "direct"
    elif rng.random() < mix.template_fraction:
        mixed = rng.random() < mix.mixed_fraction
        correction = rng.random() < mix.correction_fraction
        completion = step_by_step_completion(problem, rng, mixed=mixed, correction=correction)
        kind = "worked_mixed" if mixed else "worked_correction" if correction else "worked"
    else:
        completion, kind = plain_worked_completion(problem, rng), "worked_plain"
    return Example(problem.prompt(), completion, answer, kind)


def drill_example(rng: random.Random, mix: CorpusMix) -> Example:
    """A line of independent single steps, each from a random one-step problem."""
    script = "persian" if rng.random() < mix.persian_fraction else "latin"
    # Every single step is drilled, also those that equal a held-out one-operation problem:
    # a step is a skill (like knowing 7+8=15), the test asks whether the model can chain them.
    steps = [random_problem(rng, 1, script).step_lines()[0] for _ in range(mix.drill_steps)]
    return Example("", ", ".join(steps), "", "drill")


def fact_example(rng: random.Random, seen_facts: dict, mix: CorpusMix) -> Example:
    name = rng.choice(sorted(seen_facts))
    think = rng.random() < mix.fact_think_fraction
    value = seen_facts[name]
    completion = fact_completion(name, value, "latin", think, empty_think=rng.random() < 0.5)
    return Example(fact_prompt(name), completion, str(value), "fact")


def training_examples(n: int, seed: int, mix: CorpusMix | None = None,
                      seen_facts: dict | None = None) -> list[Example]:
    """`n` pretraining documents. Held-out test problems never appear as problems.

    (Drills practise every single step, so a held-out one-operation problem's step does
    appear there, outside the question/answer template: see drill_example.)
    """
    mix = mix or CorpusMix()
    seen_facts = make_facts()[0] if seen_facts is None else seen_facts
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        r = rng.random()
        if r < mix.drill_fraction:
            out.append(drill_example(rng, mix))
        elif r < mix.drill_fraction + mix.fact_fraction and seen_facts:
            out.append(fact_example(rng, seen_facts, mix))
        else:
            script = "persian" if rng.random() < mix.persian_fraction else "latin"
            problem = random_problem(rng, rng.randint(1, mix.max_ops), script)
            if is_held_out(problem):
                continue
            out.append(problem_example(problem, rng, mix))
    return out


def to_hf_dataset(examples: list[Example]):
    """The examples as a Hugging Face `datasets.Dataset` (prompt / completion / answer / kind)."""
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [e.prompt for e in examples],
        "completion": [e.completion for e in examples],
        "answer": [e.answer for e in examples],
        "kind": [e.kind for e in examples],
    })
