"""Budget forcing (s1, Muennighoff et al. 2025, "s1: Simple test-time scaling").

Control how long a model thinks at test time, with no training, by editing what it writes:
- a ceiling: thinking is cut after `budget` tokens and the model must answer from what it has;
- a floor: when the model closes its thinking too early, its `</think>` is dropped, " wait " is
  appended and it goes on thinking. s1 appends "Wait"; this world's journey-learning traces
  already use " wait " before a corrected step, so a trained model has seen what it means.

Each batch of problems is answered in two phases, both with ch01's `generate`:

    think:   prompt <think>                               -> until </think> or the budget
    answer:  prompt <think> thinking </think><answer>     -> a few tokens, until the end token

Accuracy against the budget (`budget_curve`) shows how much thinking the model needs.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.arithmetic import ANSWER, END_THINK, THINK, WAIT
from ch01_what_is_reasoning.sampling import Generation, generate
from ch01_what_is_reasoning.training import PROGRESS_SECONDS
from ch01_what_is_reasoning.verifier import Verdict, verify

# Room for the answer phase: at most two digits in this world, '</answer>' and the end token.
ANSWER_TOKENS = 8
CLOSE_THINKING = (END_THINK, ANSWER)   # what is forced between the thinking and the answer


@dataclass
class BudgetAnswers:
    prompts: list[str]
    completions: list[str]      # from <think> to </answer> (or where the answer was cut)
    verdicts: list[Verdict]
    thinking_tokens: list[int]  # tokens inside <think>...</think>, forced " wait "s included
    tokens: list[int]           # every token of the completion, forced ones and the end token
                                # included (as ch01's `Answers.tokens`): what inference is charged
    waits: list[int]            # how many times " wait " was forced
    seconds: float

    @property
    def accuracy(self) -> float:
        return sum(v.correct for v in self.verdicts) / max(1, len(self.verdicts))

    @property
    def mean_thinking_tokens(self) -> float:
        return sum(self.thinking_tokens) / max(1, len(self.thinking_tokens))

    @property
    def mean_tokens(self) -> float:
        return sum(self.tokens) / max(1, len(self.tokens))


def render(tokenizer, ids: list[int]) -> str:
    """Model-written tokens as text, verbatim: a stray `<eos>` inside the thinking stays visible,
    so the verifier judges exactly what the model wrote."""
    return tokenizer.decode(ids, skip_special=())


def answer_after_thinking(model, tokenizer, contexts: list[list[int]], *,
                          batch_size: int = 512) -> Generation:
    """Close the thinking of every context with `</think><answer>` and let the model answer.

    The answer is decoded greedily: the thinking is where sampling matters, and the answer
    should be the one that thinking leads to (s1 and beam_search.py answer the same way).
    """
    close = [tokenizer.token_id(tag) for tag in CLOSE_THINKING]
    return generate(model, [c + close for c in contexts], max_new_tokens=ANSWER_TOKENS,
                    eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, batch_size=batch_size)


def _check_arguments(budget, min_thinking, max_waits) -> None:
    for name, value in (("budget", budget), ("min_thinking", min_thinking), ("max_waits", max_waits)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a whole number of tokens >= 0, got {value!r}")
    if min_thinking > budget:
        raise ValueError(f"min_thinking={min_thinking} is above budget={budget}: the thinking is cut "
                         f"at the budget, so it can never be that long; lower min_thinking or raise "
                         f"the budget")
    if min_thinking > 0 and max_waits == 0:
        raise ValueError(f"min_thinking={min_thinking} does nothing with max_waits=0: the only way to "
                         f"make the model think longer is to force ' wait '; set max_waits >= 1")


def _think(model, tokenizer, contexts, limits, *, min_thinking, max_waits, must_think, temperature,
           generator, batch_size) -> tuple[list[list[int]], list[int]]:
    """The thinking tokens of every context (forced waits included) and the waits forced.

    Each round continues every row that is still thinking, in one `generate` call. A row stops
    when it closes its thinking (unless it is below `min_thinking` and may still be told to
    wait) or when it reaches its limit.
    """
    end_think = tokenizer.token_id(END_THINK)
    wait = tokenizer.encode(WAIT)
    thinking = [[] for _ in contexts]
    waits = [0] * len(contexts)
    active = [i for i, limit in enumerate(limits) if limit > 0]
    # must_think: the first thinking token may not be </think> (chapter 1's step-by-step style),
    # so a model whose habit is to close its thinking at once still has to think.
    forbid = [end_think] if must_think else None
    while active:
        # One max_new_tokens serves the whole batch; each row is cut to its own limit below
        # (tokens sampled past a row's limit are a batching artefact, like padding: not charged).
        out = generate(model, [contexts[i] + thinking[i] for i in active],
                       max_new_tokens=max(limits[i] - len(thinking[i]) for i in active),
                       eos_id=end_think, pad_id=tokenizer.pad_id, temperature=temperature,
                       generator=generator, batch_size=batch_size, forbid_first=forbid)
        forbid = None  # only the very first token of the thinking
        still_thinking = []
        for i, new, closed in zip(active, out.tokens, out.finished):
            room = limits[i] - len(thinking[i])
            closed = closed and len(new) <= room   # a close after the limit came too late
            thinking[i] += new[:room]
            if closed:
                # Force a wait only if the model can still write something after it.
                if (len(thinking[i]) < min_thinking and waits[i] < max_waits
                        and len(thinking[i]) + len(wait) < limits[i]):
                    thinking[i] += wait
                    waits[i] += 1
                    still_thinking.append(i)
            elif len(thinking[i]) < limits[i]:
                # Neither closed nor at its limit: `generate` stopped early because a longer row
                # of the batch filled the context. Go on in the next round.
                still_thinking.append(i)
        active = still_thinking
    return thinking, waits


def answer_with_budget(model, tokenizer, problems, budget: int, *, min_thinking: int = 0,
                       max_waits: int = 0, must_think: bool = False, temperature: float = 0.0,
                       generator: torch.Generator | None = None, batch_size: int = 512) -> BudgetAnswers:
    """Answer every problem thinking at most `budget` tokens (0: `<think></think>` straight away).

    If the model closes its thinking before `min_thinking` tokens, " wait " is appended and it
    goes on, at most `max_waits` times per problem. `must_think` forbids closing the thinking
    as its very first token (as chapter 1's step-by-step style does). The budget is also capped
    by the model's context, keeping room for `</think><answer>` and the answer.
    """
    _check_arguments(budget, min_thinking, max_waits)
    prompts = [p.prompt() for p in problems]
    start = time.perf_counter()
    if not prompts:
        return BudgetAnswers([], [], [], [], [], [], 0.0)
    contexts = [tokenizer.encode(p + THINK, bos=True) for p in prompts]
    reserve = len(CLOSE_THINKING) + ANSWER_TOKENS
    limits = [max(0, min(budget, model.config.block_size - len(c) - reserve)) for c in contexts]
    thinking, waits = _think(model, tokenizer, contexts, limits, min_thinking=min_thinking,
                             max_waits=max_waits, must_think=must_think, temperature=temperature,
                             generator=generator, batch_size=batch_size)
    out = answer_after_thinking(model, tokenizer, [c + t for c, t in zip(contexts, thinking)],
                                batch_size=batch_size)
    completions = [THINK + render(tokenizer, t) + END_THINK + ANSWER + tokenizer.decode(a)
                   for t, a in zip(thinking, out.tokens)]
    # <think>, the thinking, </think><answer>, the answer, and the end token when it was written.
    tokens = [1 + len(t) + len(CLOSE_THINKING) + len(a) + int(f)
              for t, a, f in zip(thinking, out.tokens, out.finished)]
    verdicts = [verify(c, p.answer) for c, p in zip(completions, problems)]
    return BudgetAnswers(prompts, completions, verdicts, [len(t) for t in thinking], tokens, waits,
                         time.perf_counter() - start)


def budget_curve(model, tokenizer, problems, budgets, *, progress: bool = False,
                 **kw) -> dict[int, dict]:
    """{budget: {"accuracy", "mean_thinking_tokens", "mean_tokens"}}: accuracy against how long
    the model may think. Other keywords go to `answer_with_budget`.

    `min_thinking` is capped at each budget, so one floor can be used across a sweep that
    includes small budgets (a large floor, with enough `max_waits`, pushes every run towards
    its budget: s1's way of making the model think longer).
    """
    budgets = list(budgets)
    if not budgets:
        raise ValueError("budgets is empty: pass the thinking budgets to try, e.g. [0, 8, 16, 32]")
    for b in budgets:  # all checked before the first (possibly long) run
        _check_arguments(b, 0, 0)
    min_thinking = kw.pop("min_thinking", 0)
    curve = {}
    for budget in tqdm(budgets, desc="budgets", disable=not progress, leave=False,
                       mininterval=PROGRESS_SECONDS):
        run = answer_with_budget(model, tokenizer, problems, budget,
                                 min_thinking=min(min_thinking, budget), **kw)
        curve[budget] = {"accuracy": run.accuracy, "mean_thinking_tokens": run.mean_thinking_tokens,
                         "mean_tokens": run.mean_tokens}
    return curve
