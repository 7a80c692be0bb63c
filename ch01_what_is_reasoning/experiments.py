"""Chapter 1's experiments, shared by the notebook and the CLI.

Each function measures one claim and returns plain numbers (fractions in [0, 1]).
"""

from __future__ import annotations

import dataclasses
import random
import time

import torch

from course.cache import load_cached, save_cached, say_retraining
from course.locks import writer_lock
from course.runtime import Preset

from .arithmetic import (
    direct_completion,
    fact_prompt,
    make_facts,
    sample_problems,
    step_by_step_completion,
    to_script,
)
from .corpus import CorpusMix, training_examples
from .evaluation import answer, answer_problems
from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer
from .training import PackedDocuments, PromptCompletionBatches, spent, train

STYLES = ("direct", "step_by_step")


def base_config(preset: Preset, tokenizer: CharTokenizer) -> GPTConfig:
    return GPTConfig(vocab_size=tokenizer.vocab_size, block_size=128, n_layer=preset.n_layer,
                     n_head=preset.n_head, n_embd=preset.n_embd)


def pretrain_recipe(preset: Preset, tokenizer: CharTokenizer) -> dict:
    """What a pretrained base depends on: its shape and training settings, the corpus and the
    vocabulary (not the preset's name or its evaluation sizes). The cache's fingerprint."""
    keys = ("n_layer", "n_head", "n_embd", "pretrain_steps", "batch_size", "lr", "corpus_docs")
    return {"kind": "pretrain",
            "settings": {**{k: getattr(preset, k) for k in keys}, "seed": preset.seed},
            "world": {"corpus_mix": dataclasses.asdict(CorpusMix()),
                      "vocabulary": tokenizer.vocab_size, "block_size": 128}}


def pretrain_base(preset: Preset, device, checkpoint=None, progress: bool = True,
                  name: str = "base"):
    """Load the base model from `checkpoint` if today's settings made it, else pretrain it and
    save it (a cache from other settings is retrained, with a line saying what changed).

    Returns (model, tokenizer, info); info holds the loss history, seconds and tokens/s of the
    run that trained it (also when loaded), and `loaded` says which happened. The corpus order,
    the initial weights and the batches come from `preset.seed`.
    """
    tokenizer = CharTokenizer()
    seed = preset.seed
    recipe = pretrain_recipe(preset, tokenizer)
    if checkpoint is None:
        return _pretrain(preset, device, None, recipe, tokenizer, seed, progress, name)
    # One writer per checkpoint: the cache is checked, trained and saved under its lock, so a
    # second process waits, then finds the base the first one saved (and loads it).
    with writer_lock(checkpoint):
        model, info = load_cached(checkpoint, recipe, device, name, tokenizer.vocab_size,
                                  model_class=GPT)
        if model is not None:
            return model.eval(), tokenizer, info
        say_retraining(name, info)
        return _pretrain(preset, device, checkpoint, recipe, tokenizer, seed, progress, name)


def _pretrain(preset, device, checkpoint, recipe, tokenizer, seed, progress, name):
    """pretrain_base's training and saving (the caller holds the checkpoint's lock)."""
    torch.manual_seed(seed)
    examples = training_examples(preset.corpus_docs, seed=seed)
    data = PackedDocuments([e.prompt + e.completion for e in examples], tokenizer, 128)
    model = GPT(base_config(preset, tokenizer)).to(device)
    result = train(model, data, steps=preset.pretrain_steps, batch_size=preset.batch_size,
                   lr=preset.lr, seed=seed, desc=f"pretraining {name}", progress=progress)
    info = {"preset": preset.name, "history": result.history, "seconds": result.seconds,
            "tokens": result.tokens, "tokens_per_second": result.tokens_per_second,
            "params": model.num_params(), "corpus_tokens": data.n_tokens, "device": str(device),
            "spent": spent(model.num_params(), trained_tokens=result.tokens)}
    if checkpoint is not None:
        save_cached(checkpoint, model, recipe, info)
    return model.eval(), tokenizer, {**info, "recipe": recipe, "loaded": False}


def accuracy_by_operations(model, tokenizer, levels, n_problems: int, seed: int = 1,
                           progress: bool = True) -> dict:
    """{style: {n_ops: accuracy}} on held-out problems, greedy decoding."""
    out = {style: {} for style in STYLES}
    for n_ops in levels:
        problems = sample_problems(n_problems, n_ops, split="test", seed=seed)
        for style in STYLES:
            out[style][n_ops] = answer_problems(model, tokenizer, problems, style).accuracy
        if progress:
            print(f"{n_ops} operations: direct {out['direct'][n_ops]:.1%}, "
                  f"step by step {out['step_by_step'][n_ops]:.1%}")
    return out


def sample_efficiency(preset: Preset, device, sizes=None, n_ops: int = 2, n_test: int = 500,
                      seed: int = 0, progress: bool = True) -> dict:
    """{style: {n_examples: accuracy}}: small models trained from scratch on n examples.

    Every run sees the same number of optimizer steps; only the number of distinct training
    problems and the answer style differ (direct answer vs worked steps as the target).
    """
    sizes = sizes or preset.sample_efficiency_sizes
    tokenizer = CharTokenizer()
    test = sample_problems(n_test, n_ops, split="test", seed=seed + 1)
    pool = sample_problems(max(sizes), n_ops, split="train", seed=seed)
    out = {style: {} for style in STYLES}
    for style in STYLES:
        for n in sizes:
            rng = random.Random(seed)
            if style == "direct":
                pairs = [(p.prompt(), direct_completion(str(p.answer), empty_think=False))
                         for p in pool[:n]]
            else:
                pairs = [(p.prompt(), step_by_step_completion(p, rng)) for p in pool[:n]]
            batches = PromptCompletionBatches(pairs, tokenizer, 128, completion_only=True)
            torch.manual_seed(seed)
            cfg = GPTConfig.from_shape(preset.sample_efficiency_model, tokenizer.vocab_size, block_size=64)
            model = GPT(cfg).to(device)
            train(model, batches, steps=preset.sample_efficiency_steps, batch_size=16, lr=3e-3,
                  seed=seed, desc=f"{style}, {n} examples", progress=progress)
            out[style][n] = answer_problems(model, tokenizer, test, style).accuracy
            if progress:
                print(f"{style:>12}, {n:>5} examples: {out[style][n]:.1%}")
    return out


def cost(model, tokenizer, problems, n_timed: int = 50) -> dict:
    """Tokens per answer (all `problems`, batched) and wall time per answer (one at a time,
    as a user waiting for a single reply would see it, on the first `n_timed`)."""
    out = {}
    for style in STYLES:
        tokens = answer_problems(model, tokenizer, problems, style).mean_tokens
        start = time.perf_counter()
        for p in problems[:n_timed]:
            answer_problems(model, tokenizer, [p], style)
        ms = 1000 * (time.perf_counter() - start) / max(1, min(n_timed, len(problems)))
        out[style] = {"tokens": tokens, "ms": ms}
    return out


def knowledge(model, tokenizer, facts=None) -> dict:
    """Accuracy on facts the corpus states vs facts it never states, with and without thinking."""
    seen, unseen = facts or make_facts()
    out = {}
    for style in STYLES:
        for name, table in (("seen", seen), ("unseen", unseen)):
            a = answer(model, tokenizer, [fact_prompt(k) for k in table], list(table.values()), style)
            out[f"{name}_accuracy_{style}"] = a.accuracy
            out[f"{name}_answer_rate_{style}"] = a.answer_rate
    # The headline keys: the direct (non-thinking) answers.
    out["seen_accuracy"] = out["seen_accuracy_direct"]
    out["unseen_accuracy"] = out["unseen_accuracy_direct"]
    out["unseen_answer_rate"] = out["unseen_answer_rate_direct"]
    values = list(unseen.values())
    # Chance: the best a model can do without the fact is to guess the most common value.
    out["chance_accuracy"] = max(values.count(v) for v in set(values)) / len(values)
    return out


def overthinking(model, tokenizer, problems) -> dict:
    """Accuracy and tokens per answer on easy (one-operation) problems, per style."""
    out = {}
    for style in STYLES:
        a = answer_problems(model, tokenizer, problems, style)
        out[style] = {"accuracy": a.accuracy, "tokens": a.mean_tokens}
    return out


def script_consistency(model, tokenizer, n_ops: int, n: int, seed: int = 3) -> dict:
    """Step-by-step accuracy on Persian-digit problems (the second 'language')."""
    problems = sample_problems(n, n_ops, split="test", seed=seed, script="persian")
    a = answer_problems(model, tokenizer, problems, "step_by_step")
    persian_answers = sum(v.answer_script == "persian" for v in a.verdicts) / max(1, n)
    return {"accuracy": a.accuracy, "answer_in_prompt_script": persian_answers,
            "example": a.completions[0], "example_prompt": problems[0].prompt(),
            "latin_example": to_script(a.completions[0], "latin")}
