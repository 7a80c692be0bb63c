"""Ask a model questions in a chosen answer style and score the answers with the verifier.

Styles (what the completion is forced to start with):
- "direct": `<answer>` — no thinking at all, the answer straight away;
- "step_by_step": `<think>`, and the next token may not be `</think>` — the model must think;
- "free": nothing — the model chooses (chapter 2's RL starts from this).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .arithmetic import ANSWER, END_THINK, THINK
from .sampling import generate
from .verifier import Verdict, verify

STYLE_PREFIX = {"direct": ANSWER, "step_by_step": THINK, "free": ""}


@dataclass
class Answers:
    prompts: list[str]
    completions: list[str]      # forced prefix + generated text
    verdicts: list[Verdict]
    tokens: list[int]           # tokens of each completion, prefix and end token included
    seconds: float

    @property
    def accuracy(self) -> float:
        return sum(v.correct for v in self.verdicts) / max(1, len(self.verdicts))

    @property
    def format_rate(self) -> float:
        return sum(v.well_formed for v in self.verdicts) / max(1, len(self.verdicts))

    @property
    def answer_rate(self) -> float:
        return sum(v.has_answer for v in self.verdicts) / max(1, len(self.verdicts))

    @property
    def mean_tokens(self) -> float:
        return sum(self.tokens) / max(1, len(self.tokens))


def answer(model, tokenizer, prompts: list[str], expected: list[int | None], style: str = "free",
           *, temperature: float = 0.0, top_p: float | None = None,
           max_new_tokens: int | None = None, generator: torch.Generator | None = None,
           batch_size: int = 512, progress: bool = False) -> Answers:
    """Generate one completion per prompt in `style` and verify it."""
    if style not in STYLE_PREFIX:
        raise ValueError(f"unknown style {style!r}: use one of {sorted(STYLE_PREFIX)}")
    if len(prompts) != len(expected):
        raise ValueError(f"{len(prompts)} prompts but {len(expected)} expected answers")
    prefix = STYLE_PREFIX[style]
    ids = [tokenizer.encode(p + prefix, bos=True) for p in prompts]
    forbid = [tokenizer.token_id(END_THINK)] if style == "step_by_step" else None
    start = time.perf_counter()
    out = generate(model, ids, max_new_tokens=max_new_tokens or model.config.block_size,
                   eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, temperature=temperature,
                   top_p=top_p, generator=generator, forbid_first=forbid, batch_size=batch_size,
                   progress=progress)
    seconds = time.perf_counter() - start
    n_prefix = len(tokenizer.encode(prefix))
    completions = [prefix + tokenizer.decode(t) for t in out.tokens]
    tokens = [n_prefix + len(t) + int(f) for t, f in zip(out.tokens, out.finished)]
    verdicts = [verify(c, e) for c, e in zip(completions, expected)]
    return Answers(list(prompts), completions, verdicts, tokens, seconds)


def answer_problems(model, tokenizer, problems, style: str, **kw) -> Answers:
    return answer(model, tokenizer, [p.prompt() for p in problems], [p.answer for p in problems],
                  style, **kw)
