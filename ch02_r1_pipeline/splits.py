"""Scoring every stage the way the R1 paper does, on four kinds of question.

The paper avoids greedy decoding for its headline numbers (long greedy outputs repeat and
vary a lot between checkpoints); it samples k answers per question at temperature 0.6 and
top-p 0.95 and reports pass@1, the mean correctness over the k (DeepSeek-R1, arXiv
2501.12948, section 3.1). We report that next to greedy accuracy, on five splits that ask
different things of a stage:

- `in_distribution`: half of the chapter's test set (3-5 operations, what RL trained on);
- `harder`: 6 operations (held-out problems), longer than R1-Zero's RL prompts; R1's
  rejection-sampled SFT set holds 6-operation problems (training-split ones), and so do the
  prompts of the fair control (`r1_zero_same_problems`): for those two it is in distribution;
- `unseen`: 7 operations (held-out problems), a length that no stage and no pretraining
  document has: the split on which R1 and R1-Zero are compared fairly;
- `easy`: 1 operation, where thinking buys nothing: accuracy and the tokens spent;
- `knowledge`: the named facts the corpus states, where thinking buys nothing either.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.arithmetic import (
    fact_prompt,
    make_facts,
    sample_problems,
    step_by_step_completion,
)
from ch01_what_is_reasoning.evaluation import answer
from ch01_what_is_reasoning.model import GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer

from .tasks import PERSIAN_SHARE

SPLITS = ("in_distribution", "harder", "easy", "knowledge", "unseen")
HARDER_OPS, UNSEEN_OPS, EASY_OPS = 6, 7, 1
CONTEXT = GPTConfig.block_size   # 128 tokens: the unseen split keeps problems whose trace fits
PASS1_SAMPLES, PASS1_TEMPERATURE, PASS1_TOP_P = 4, 0.6, 0.95   # the R1 paper's protocol


def _held_out(n: int, n_ops: int, seed: int = 5, fit: bool = False) -> list:
    """`n` held-out problems of `n_ops` operations, PERSIAN_SHARE of them in Persian digits.
    `fit`: only problems whose worked solution (every rewrite written out) fits the context,
    so that a wrong answer is the model's, never the context's (8% of 7-operation ones do not)."""
    level = sample_problems(3 * n if fit else n, n_ops, split="test", seed=seed)
    if fit:
        level = [p for p in level if fits_context(p)][:n]
    n_persian = round(n * PERSIAN_SHARE)
    return [p.with_script("persian") for p in level[:n_persian]] + level[n_persian:]


def fits_context(problem) -> bool:
    """Prompt and full worked solution (with its end token) within the models' context."""
    tokenizer = CharTokenizer()
    return (len(tokenizer.encode(problem.prompt(), bos=True))
            + len(tokenizer.encode(step_by_step_completion(problem), eos=True))) <= CONTEXT


def split_problems(test: list) -> dict[str, list]:
    """{split: problems} for the arithmetic splits: every other problem of `test` (k samples
    each cost as much as the greedy pass over all of it), and a third as many harder, unseen
    and easy problems as `test` (chapter 3 scores its methods on these same problems)."""
    n = max(1, len(test) // 3)
    return {"in_distribution": test[::2], "harder": _held_out(n, HARDER_OPS),
            "easy": _held_out(n, EASY_OPS), "unseen": _held_out(n, UNSEEN_OPS, fit=True)}


def eval_splits(test: list) -> dict[str, tuple[list[str], list[int]]]:
    """{split: (prompts, answers)}: the problems of `split_problems`, and as many of the seen
    facts as the harder split has problems (all 40 once `test` has 120 problems: the cpu
    preset's 600 ask every one; the tiny preset's 12 ask 4, which keeps the unit tests fast)."""
    problems = split_problems(test)
    seen = dict(list(make_facts()[0].items())[:len(problems["harder"])])
    splits = {name: ([p.prompt() for p in ps], [p.answer for p in ps]) for name, ps in problems.items()}
    splits["knowledge"] = ([fact_prompt(name) for name in seen], list(seen.values()))
    return {name: splits[name] for name in SPLITS}


def signature(splits: dict, k: int = PASS1_SAMPLES, temperature: float = PASS1_TEMPERATURE,
              top_p: float = PASS1_TOP_P, seed: int = 0) -> dict:
    """What a cached evaluation was measured on: when this changes, it is measured again."""
    return {"sizes": {name: len(prompts) for name, (prompts, _) in splits.items()},
            "first": {name: prompts[0] if prompts else "" for name, (prompts, _) in splits.items()},
            "k": k, "temperature": temperature, "top_p": top_p, "seed": seed}


def evaluate_splits(model, tokenizer, splits: dict, k: int = PASS1_SAMPLES,
                    temperature: float = PASS1_TEMPERATURE, top_p: float = PASS1_TOP_P,
                    seed: int = 0, progress: bool = False, desc: str = "scoring 5 splits") -> dict:
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
