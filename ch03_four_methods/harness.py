"""The comparison harness: every (method, model, inference strategy) on the same problems.

A strategy turns a model and the problems into answers; the harness grades them and charges
inference FLOPs for every token the model processed (each prompt once per sample or search,
every generated token), so rows can be compared on accuracy *and* cost:

    greedy              the model chooses whether to think (chapter 2's free template)
    cot_prompt          chain-of-thought prompting: the answer is prefilled with <think>
    direct_prompt       the answer is prefilled with <answer>: no thinking at all
    majority@N          N samples at temperature 1, majority vote on the answer
    best_of_n_verifier@N  the same N samples, the one the step verifier scores highest
    beam_search         verifier-guided beam search over steps (beam_search.py)
    budget@B            s1 budget forcing: think at most B tokens (must think first)

Sampling strategies share one pool per model (scaling.py), so majority@16 and
best_of_n_verifier@16 are read from the same 16 samples and cost the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ch01_what_is_reasoning.evaluation import answer_problems
from ch01_what_is_reasoning.verifier import verify

from .beam_search import beam_search_problems
from .budget_forcing import answer_with_budget
from .compute import inference_flops
from .scaling import SamplePool, sample_pool, scaling_curves
from .step_verifier import step_score
from .voting import best_of_n, majority_vote

PROMPT_STYLES = {"greedy": "free", "cot_prompt": "step_by_step", "direct_prompt": "direct"}
POOLED = ("majority", "best_of_n_verifier")


@dataclass(frozen=True)
class Entry:
    method: str     # one of the four methods (or "none" for a plain base model)
    model: str      # a chapter 2 stage name
    strategy: str   # see the module docstring


@dataclass
class Outcome:
    accuracy: float
    tokens_per_problem: float   # prompt + generated tokens the model processed, per problem


class Harness:
    """Evaluates entries on `problems`; `models` maps a stage name to a loaded model (or a
    function that loads it), `train_flops` maps it to what it cost to train."""

    def __init__(self, models: dict, tokenizer, problems, train_flops: dict, *, pool_size: int = 16,
                 beam: dict | None = None, seed: int = 0, progress: bool = False):
        self.models, self.tokenizer, self.problems = models, tokenizer, list(problems)
        self.train_flops, self.pool_size, self.seed = train_flops, pool_size, seed
        self.beam = beam or {"beam_width": 4, "expansions": 4}
        self.progress = progress
        self.prompt_tokens = [len(tokenizer.encode(p.prompt(), bos=True)) for p in self.problems]
        self._pools: dict[str, SamplePool] = {}

    def model(self, name: str):
        if name not in self.models:
            raise ValueError(f"no model called {name!r}: the harness has {sorted(self.models)}")
        if callable(self.models[name]) and not isinstance(self.models[name], torch.nn.Module):
            self.models[name] = self.models[name]()   # load on first use
        return self.models[name]

    def pool(self, name: str) -> SamplePool:
        """`pool_size` samples per problem at temperature 1, drawn once per model."""
        if name not in self._pools:
            self._pools[name] = sample_pool(self.model(name), self.tokenizer, self.problems,
                                            self.pool_size, seed=self.seed, progress=self.progress)
        return self._pools[name]

    # ------------------------------------------------------------ strategies
    def outcome(self, model_name: str, strategy: str) -> Outcome:
        kind, _, arg = strategy.partition("@")
        model, problems, n = self.model(model_name), self.problems, max(1, len(self.problems))
        prompt_total = sum(self.prompt_tokens)
        if kind in PROMPT_STYLES:
            a = answer_problems(model, self.tokenizer, problems, PROMPT_STYLES[kind])
            return Outcome(a.accuracy, (prompt_total + sum(a.tokens)) / n)
        if kind in POOLED:
            return self._pooled(model_name, kind, _whole_number(strategy, arg, self.pool_size))
        if kind == "beam_search":
            run = beam_search_problems(model, self.tokenizer, problems, progress=self.progress,
                                       generator=torch.Generator().manual_seed(self.seed), **self.beam)
            # The prompt's KV cache is shared by every beam, as in a serving stack: charged once.
            return Outcome(run.accuracy, prompt_total / n + run.mean_tokens)
        if kind == "budget":
            run = answer_with_budget(model, self.tokenizer, problems,
                                     _whole_number(strategy, arg, None, least=0), must_think=True)
            return Outcome(run.accuracy, (prompt_total + sum(run.tokens)) / n)
        raise ValueError(f"unknown strategy {strategy!r}: use greedy, cot_prompt, direct_prompt, "
                         "majority@N, best_of_n_verifier@N, beam_search or budget@B")

    def _pooled(self, model_name: str, kind: str, n_samples: int) -> Outcome:
        pool, correct, tokens = self.pool(model_name), 0, 0
        for i, (prompt, samples, truth) in enumerate(zip(pool.prompts, pool.completions,
                                                         pool.expected)):
            samples = samples[:n_samples]
            answers = [verify(c).answer for c in samples]
            if kind == "majority":
                chosen = majority_vote(answers)
            else:   # the verifier sees the prompt and the samples, never the answer key
                chosen = answers[best_of_n(samples, [step_score(prompt, c) for c in samples])]
            correct += chosen == truth
            tokens += n_samples * self.prompt_tokens[i] + sum(pool.tokens[i][:n_samples])
        n = max(1, len(pool.prompts))
        return Outcome(correct / n, tokens / n)

    def scaling(self, name: str, ns) -> dict:
        """Accuracy against N (majority, verifier best-of-N, pass@N) and the inference FLOPs
        per problem that N samples cost, all read from the model's one pool."""
        pool = self.pool(name)
        curves = scaling_curves(pool.prompts, pool.completions, pool.expected, ns)
        n_params, n = self.model(name).num_params(), max(1, len(pool.prompts))
        flops = {k: inference_flops(n_params, sum(k * p + sum(t[:k]) for p, t in
                                                  zip(self.prompt_tokens, pool.tokens)) / n)
                 for k in ns}
        return {**curves, "inference_flops_per_problem": flops}

    # ------------------------------------------------------------ the table
    def row(self, entry: Entry) -> dict:
        out = self.outcome(entry.model, entry.strategy)
        n_params = self.model(entry.model).num_params()
        return {"method": entry.method, "model": entry.model, "strategy": entry.strategy,
                "accuracy": out.accuracy, "train_flops": self.train_flops[entry.model],
                "inference_flops_per_problem": inference_flops(n_params, out.tokens_per_problem),
                "tokens_per_problem": out.tokens_per_problem, "params": n_params}

    def table(self, entries) -> list[dict]:
        return [self.row(e) for e in entries]


def compare(entries, models: dict, tokenizer, problems, train_flops: dict, **kw) -> list[dict]:
    """One row per entry: method, model, strategy, accuracy, train_flops,
    inference_flops_per_problem (plus tokens_per_problem and params)."""
    return Harness(models, tokenizer, problems, train_flops, **kw).table(entries)


def _whole_number(strategy: str, arg: str, most: int | None, least: int = 1) -> int:
    if not arg.isdigit() or int(arg) < least or (most is not None and int(arg) > most):
        limit = f" and at most {most} (the pool size)" if most is not None else ""
        raise ValueError(f"strategy {strategy!r} needs a whole number >= {least}{limit} after '@'")
    return int(arg)


def harness_for(pipeline, s, costs: dict, problems: list, progress: bool = True) -> Harness:
    """Every chapter 2 model (loaded on first use) on `problems`, each charged its total
    training FLOPs, with chapter 3's settings `s` (pool size, beam) and the course seed."""
    return Harness({name: (lambda name=name: pipeline.model(name)) for name in costs},
                   pipeline.tokenizer, problems, {k: v["total"] for k, v in costs.items()},
                   pool_size=s.pool_size, beam=dict(zip(("beam_width", "expansions"), s.beam)),
                   seed=pipeline.settings.seed, progress=progress)
