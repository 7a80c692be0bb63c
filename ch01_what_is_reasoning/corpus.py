"""The pretraining corpus: mostly direct answers, fewer worked solutions, drills and facts.

The mix is what chapter 2's RL starts from, so it is chosen on purpose:
- most problems are answered directly, mostly after an empty think block
  (`<think></think><answer>9</answer>`, else `<answer>9</answer>`), so the base model's
  greedy habit is to answer at once, in the right format. It *can* think (forced to, it does
  it well), but rarely chooses to: that is what R1-Zero's RL discovers pays. (Measured: with
  half the direct answers written without the empty think block, greedy decoding already
  chose to think, and RL had nothing left to discover.)
- fewer come with a worked solution, some in the R1 template, some as plain text, in both
  digit scripts, a few mixing scripts mid-trace and a few correcting a wrong step;
- "drills" are lines of single steps ("7+8 = 15, 12-3 = 9, ...") or of single rewrites
  ("(3+4)*2-5 = 7*2-5, ..."): cheap, short examples that make each step, and the copying of
  the rest of the expression, almost perfect, so a chain of steps rarely breaks. (Measured,
  one seed each: without rewrite drills, step-by-step accuracy at 5 operations swung between
  35% and 96% when unrelated parts of the corpus changed; with them it was 98.4%.)
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
    rewrite_drill_fraction: float = 0.5  # of drill lines: one-rewrite steps of longer
                                         # training problems ('(3+4)*2-5 = 7*2-5, ...')
    empty_think_fraction: float = 0.8  # of direct answers: '<think></think><answer>' (rest
                                       # '<answer>' alone): the base's greedy habit becomes
                                       # 'empty think, then answer' (see the docstring)


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
    if rng.random() < mix.rewrite_drill_fraction:
        # One rewrite each: the copying a long trace needs, practised on its own. The left
        # side is always a training problem, so no held-out problem is partly solved here.
        lines = []
        while len(lines) < mix.drill_steps // 2:
            p = random_problem(rng, rng.randint(2, mix.max_ops), script)
            if not is_held_out(p):
                lines.append(f"{p.rewrites()[0]} = {p.rewrites()[1]}")
        return Example("", ", ".join(lines), "", "rewrite_drill")
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
