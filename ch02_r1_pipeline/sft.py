"""Supervised fine-tuning and rejection sampling: the non-RL half of the R1 recipe.

- `sft`: chapter 1's training loop on (prompt, completion) pairs, loss on completion tokens
  only (the prompt is given, not learned).
- `cold_start_traces`: the "thousands of readable long chain-of-thought examples" of R1's cold
  start, here a few hundred clean worked solutions, each in its prompt's digit script.
- `rejection_sample`: sample k completions per prompt and keep the well-formed, correct (and,
  for R1, script-consistent) ones: the "600K reasoning" set.
- `knowledge_examples`: the "200K non-reasoning" set: seen facts and one-operation questions
  answered directly, so the final model does not think where thinking does not pay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.arithmetic import (
    direct_completion,
    fact_completion,
    fact_prompt,
    make_facts,
    step_by_step_completion,
    to_script,
)
from ch01_what_is_reasoning.evaluation import answer
from ch01_what_is_reasoning.training import PROGRESS_SECONDS, PromptCompletionBatches, train
from ch01_what_is_reasoning.verifier import verify

from .rewards import consistency_reward
from .tasks import RL_OPS, random_train_problem


@dataclass(frozen=True)
class SFTConfig:
    """An SFT stage's settings. `examples` > 0: train on that many program-written worked
    solutions (the cold start); 0: train on the data its input stage wrote."""

    steps: int
    lr: float = 3e-4                  # gentle: SFT of a pretrained model, not training anew
    batch_size: int = 16
    examples: int = 0
    seed: int = 0


@dataclass(frozen=True)
class RejectionConfig:
    """Rejection sampling's settings: `k` samples for each of `prompts` training problems of
    `ops` operations at `temperature`, plus `knowledge_examples` non-reasoning examples."""

    prompts: int = 1000
    ops: tuple = RL_OPS               # the problems' lengths (training split, never held out)
    k: int = 2
    temperature: float = 1.0
    knowledge_examples: int = 400
    require_consistent: bool = True
    max_examples: int = 0             # > 0: keep at most that many reasoning traces
    seed: int = 0                     # which problems, samples and knowledge examples (the course seed)


def sft(model, pairs: list[tuple[str, str]], tokenizer, *, steps: int, batch_size: int, lr: float,
        seed: int = 0, desc: str = "SFT", progress: bool = True):
    """Fine-tune `model` in place on (prompt, completion) pairs; returns chapter 1's TrainResult."""
    if not pairs:
        raise ValueError("SFT needs at least one (prompt, completion) pair")
    batches = PromptCompletionBatches(pairs, tokenizer, model.config.block_size,
                                      completion_only=True)
    return train(model, batches, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                 desc=desc, progress=progress)


def cold_start_traces(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` clean worked solutions of training problems: no script mixing, no corrections."""
    rng = random.Random(f"cold-start-{seed}")
    problems = [random_train_problem(rng) for _ in range(n)]
    return [(p.prompt(), step_by_step_completion(p, rng)) for p in problems]


def knowledge_examples(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` non-reasoning examples: half seen facts, half one-operation questions, all
    answered directly after an empty think block."""
    rng = random.Random(f"knowledge-{seed}")
    seen, _ = make_facts()
    names = sorted(seen)
    out = []
    for i in range(n):
        if i % 2 == 0:
            name = rng.choice(names)
            out.append((fact_prompt(name), fact_completion(name, seen[name], "latin", think=False)))
        else:
            p = random_train_problem(rng, ops=(1,))
            out.append((p.prompt(), direct_completion(to_script(str(p.answer), p.script))))
    return out


def rejection_sample(model, tokenizer, problems, *, k: int, temperature: float = 1.0,
                     require_consistent: bool = True, seed: int = 0, batch_size: int = 512,
                     progress: bool = True) -> dict:
    """Sample `k` completions per problem; keep the correct, well-formed ones that think (and,
    with `require_consistent`, write every digit of the thinking in the prompt's script).

    Returns {'kept': [(prompt, completion)], 'sampled', 'correct', 'consistent'} (counts) and
    the prompt and generated tokens it spent."""
    generator = torch.Generator().manual_seed(seed)
    prompts = [p.prompt() for p in problems for _ in range(k)]
    expected = [p.answer for p in problems for _ in range(k)]
    kept, n_correct, n_consistent, generated = [], 0, 0, 0
    chunks = range(0, len(prompts), batch_size)
    for start in tqdm(chunks, desc="rejection sampling", disable=not progress, leave=False,
                      mininterval=PROGRESS_SECONDS):
        ps, es = prompts[start:start + batch_size], expected[start:start + batch_size]
        a = answer(model, tokenizer, ps, es, "free", temperature=temperature,
                   generator=generator, batch_size=batch_size)
        generated += sum(a.tokens)
        batch = keep_for_sft(ps, a.completions, es, require_consistent=require_consistent)
        kept += batch["kept"]
        n_correct += batch["correct"]
        n_consistent += batch["consistent"]
    return {"kept": kept, "sampled": len(prompts), "correct": n_correct,
            "consistent": n_consistent,
            "prompt_tokens": sum(len(tokenizer.encode(p, bos=True)) for p in prompts),
            "generated_tokens": generated}


def keep_for_sft(prompts, completions, answers, require_consistent: bool = True) -> dict:
    """What rejection sampling keeps of the teacher's samples: the completions that are right,
    well-formed and think (a non-empty thinking block), and, with `require_consistent`, write
    every digit of that thinking in the prompt's script. {'kept': [(prompt, completion)] in
    order, 'correct', 'consistent'} (counts)."""
    kept, n_correct, n_consistent = [], 0, 0
    consistent = consistency_reward(completions, prompts=prompts)
    for prompt, completion, expected, c in zip(prompts, completions, answers, consistent):
        verdict = verify(completion, expected)
        if not (verdict.correct and verdict.well_formed and verdict.thinking):
            continue
        n_correct += 1
        n_consistent += c == 1.0
        if c == 1.0 or not require_consistent:
            kept.append((prompt, completion))
    return {"kept": kept, "correct": n_correct, "consistent": n_consistent}


def to_dataset(pairs: list[tuple[str, str]], kind: str):
    """(prompt, completion) pairs as a Hugging Face `datasets.Dataset` with a `kind` column."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [p for p, _ in pairs],
                              "completion": [c for _, c in pairs],
                              "kind": [kind] * len(pairs)})
