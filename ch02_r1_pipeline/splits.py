"""Scoring every stage the way the R1 paper does, on four kinds of question.

The paper avoids greedy decoding for its headline numbers (long greedy outputs repeat and
vary a lot between checkpoints); it samples k answers per question at temperature 0.6 and
top-p 0.95 and reports pass@1, the mean correctness over the k (DeepSeek-R1, arXiv
2501.12948, section 3.1). We report that next to greedy accuracy, on four splits that ask
different things of a stage:

- `in_distribution`: half of the chapter's test set (3-5 operations, what RL trained on);
- `harder`: 6 operations (held-out problems), longer than any RL prompt; only R1's
  rejection-sampled SFT set holds 6-operation problems (training-split ones);
- `easy`: 1 operation, where thinking buys nothing: accuracy and the tokens spent;
- `knowledge`: the named facts the corpus states, where thinking buys nothing either.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.arithmetic import fact_prompt, make_facts, sample_problems
from ch01_what_is_reasoning.evaluation import answer

from .tasks import PERSIAN_SHARE

SPLITS = ("in_distribution", "harder", "easy", "knowledge")
HARDER_OPS, EASY_OPS = 6, 1
PASS1_SAMPLES, PASS1_TEMPERATURE, PASS1_TOP_P = 4, 0.6, 0.95   # the R1 paper's protocol


def _held_out(n: int, n_ops: int, seed: int = 5) -> list:
    level = sample_problems(n, n_ops, split="test", seed=seed)
    n_persian = round(n * PERSIAN_SHARE)
    return [p.with_script("persian") for p in level[:n_persian]] + level[n_persian:]


def eval_splits(test: list) -> dict[str, tuple[list[str], list[int]]]:
    """{split: (prompts, answers)}: every other problem of `test` (k samples each cost as much as
    the greedy pass over all of it), a third as many harder and easy problems as `test`, and as
    many of the seen facts (all 40 once `test` has 120 problems: the cpu preset's 600 ask every
    one; the tiny preset's 12 ask 4, which keeps the unit tests fast)."""
    n = max(1, len(test) // 3)
    seen = dict(list(make_facts()[0].items())[:n])
    problems = {"in_distribution": test[::2], "harder": _held_out(n, HARDER_OPS),
                "easy": _held_out(n, EASY_OPS)}
    splits = {name: ([p.prompt() for p in ps], [p.answer for p in ps]) for name, ps in problems.items()}
    splits["knowledge"] = ([fact_prompt(name) for name in seen], list(seen.values()))
    return splits


def signature(splits: dict, k: int = PASS1_SAMPLES, temperature: float = PASS1_TEMPERATURE,
              top_p: float = PASS1_TOP_P, seed: int = 0) -> dict:
    """What a cached evaluation was measured on: when this changes, it is measured again."""
    return {"sizes": {name: len(prompts) for name, (prompts, _) in splits.items()},
            "first": {name: prompts[0] if prompts else "" for name, (prompts, _) in splits.items()},
            "k": k, "temperature": temperature, "top_p": top_p, "seed": seed}


def evaluate_splits(model, tokenizer, splits: dict, k: int = PASS1_SAMPLES,
                    temperature: float = PASS1_TEMPERATURE, top_p: float = PASS1_TOP_P,
                    seed: int = 0, progress: bool = False, desc: str = "scoring 4 splits") -> dict:
    """Greedy accuracy, pass@1 over `k` samples, and the mean tokens of those samples, per split.

    Returns {"greedy": {split: accuracy}, "pass1": {split: accuracy}, "tokens": {split: tokens
    per sampled answer}, "greedy_tokens": {...}, "k", "temperature", "top_p", "signature"}.
    """
    out = {"greedy": {}, "pass1": {}, "tokens": {}, "greedy_tokens": {}, "k": k,
           "temperature": temperature, "top_p": top_p,
           "signature": signature(splits, k, temperature, top_p, seed)}
    generator = torch.Generator().manual_seed(seed)
    for name, (prompts, expected) in tqdm(splits.items(), desc=desc, disable=not progress,
                                          leave=False):
        greedy = answer(model, tokenizer, prompts, expected, "free")
        sampled = answer(model, tokenizer, prompts * k, expected * k, "free",
                         temperature=temperature, top_p=top_p, generator=generator)
        out["greedy"][name], out["greedy_tokens"][name] = greedy.accuracy, greedy.mean_tokens
        out["pass1"][name], out["tokens"][name] = sampled.accuracy, sampled.mean_tokens
    return out
