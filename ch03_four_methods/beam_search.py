"""Beam search against the step verifier: ask the verifier after every step, not at the end.

Best-of-N (voting.py) samples whole completions and lets the verifier pick one at the end, so
a wrong first step wastes the whole sample. Beam search (as in Snell et al. 2024, "Scaling LLM
test-time compute optimally can be more effective than scaling model parameters", with a
process reward model in the sense of Lightman et al. 2023) spends the samples step by step:

    keep `beam_width` partial traces; from each, sample `expansions` next steps;
    check every new partial trace with step_verifier.py; keep the best `beam_width`; repeat.

A step is one rewrite of the trace. The model writes until the next "=" (the trace goes on
from prefix + step + "= "), or until `</think>` (it then answers greedily and the beam is
complete). A step longer than STEP_TOKENS, or one that runs out of context, kills its beam.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.arithmetic import ANSWER, END_THINK, THINK
from ch01_what_is_reasoning.sampling import generate, left_pad
from ch01_what_is_reasoning.training import PROGRESS_SECONDS
from ch01_what_is_reasoning.verifier import verify

from .budget_forcing import CLOSE_THINKING, answer_after_thinking, render
from .step_verifier import EQUALS, check_steps, step_score

STEP_TOKENS = 40  # a rewrite here is ~10 characters; 40 tokens without "=" or </think> is junk


@dataclass(frozen=True)
class BeamResult:
    completion: str         # the best complete trace; the best partial one if none completed
    score: float            # its step_score (0 when nothing completed)
    tokens_generated: int   # every token sampled, in every expansion and every answer


class BeamSearchRun(NamedTuple):
    accuracy: float
    mean_tokens: float       # mean tokens_generated per problem
    completions: list[str]


@dataclass
class Beam:
    thinking: list[int]   # tokens after <think>: a partial trace ends with "= ", a complete one not
    rank: float           # partial: rewrites right before the first error; complete: step_score
    logprob: float        # log p(the tokens after the prompt | the prompt): breaks ties in rank
    completion: str = ""  # the whole completion, once complete


def beam_rank(beam: Beam):
    """How beams are compared: the verifier's rank first, the log-probability breaks ties."""
    return beam.rank, beam.logprob


def valid_prefix(prompt: str, thinking: str) -> int:
    """How many rewrites of a partial trace are right before the first wrong one.

    The partial trace ends with the separator ('(3+4)*2 = 7*2 = '), so check_steps sees an empty
    last rewrite, which is always an error: first_error is the number of rewrites written right
    before it, or the place of an earlier mistake. (n_valid would overcount: a rewrite that
    correctly continues a wrong one is "valid", but the trace is lost.) Beams compared at one
    step have written the same number of rewrites, so this count ranks them fairly.
    """
    check = check_steps(prompt, THINK + thinking + END_THINK)
    return check.n_steps if check.first_error is None else check.first_error


@torch.no_grad()
def sequence_logprobs(model, sequences: list[list[int]], n_prompt: int, pad_id: int = 0) -> list[float]:
    """log p(tokens after the first `n_prompt` | those), for each sequence, in one forward pass.

    Not counted as generated tokens: a sampler that returned its log-probs would have them for
    free (they are the logits it sampled from); recomputing them here is only simpler.
    """
    was_training = model.training
    model.eval()
    idx, mask = left_pad(sequences, pad_id, next(model.parameters()).device)
    logprobs = model.token_logprobs(idx, mask)
    width = logprobs.shape[1]
    model.train(was_training)
    return [logprobs[i, width - (len(s) - n_prompt):].sum().item() for i, s in enumerate(sequences)]


def expand_steps(model, tokenizer, context, beams, *, expansions, temperature, generator):
    """Sample `expansions` next steps from every beam, in one `generate` call.

    Returns the traces that go on (ending in "= "), the ones that closed their thinking
    (without `</think>`), and the number of tokens sampled, the stopping "=" included.
    """
    separator_end = tokenizer.encode(EQUALS.lstrip())   # "= ": "=" stops sampling, " " is forced
    equals = separator_end[0]
    end_think = tokenizer.token_id(END_THINK)
    parents = [b.thinking for b in beams for _ in range(expansions)]
    out = generate(model, [context + p for p in parents], max_new_tokens=STEP_TOKENS, eos_id=equals,
                   pad_id=tokenizer.pad_id, temperature=temperature, generator=generator)
    going_on, closed = [], []
    for parent, new, at_equals in zip(parents, out.tokens, out.finished):
        if end_think in new:   # before any "=", since generation stops at the first one
            closed.append(parent + new[:new.index(end_think)])
        elif at_equals:        # the step and its "=" were sampled; "= " keeps the trace's format
            going_on.append(parent + new + separator_end)
        # else: no "=" or </think> within STEP_TOKENS or the context: the beam dies
    sampled = sum(len(t) + int(f) for t, f in zip(out.tokens, out.finished))
    return going_on, closed, sampled


def _unique(traces: list[list[int]]) -> list[list[int]]:
    """Drop repeated traces (at low temperature samples repeat, and copies would fill the beam)."""
    return [list(t) for t in dict.fromkeys(map(tuple, traces))]


def best_partials(model, tokenizer, prompt, context, traces, beam_width) -> list[Beam]:
    """The `beam_width` best partial traces that still have room in the context to go on."""
    traces = [t for t in _unique(traces) if len(context) + len(t) < model.config.block_size]
    if not traces:
        return []
    logprobs = sequence_logprobs(model, [context + t for t in traces], len(context), tokenizer.pad_id)
    beams = [Beam(t, valid_prefix(prompt, render(tokenizer, t)), lp) for t, lp in zip(traces, logprobs)]
    return sorted(beams, key=beam_rank, reverse=True)[:beam_width]


def complete_traces(model, tokenizer, prompt, context, traces) -> tuple[list[Beam], int]:
    """Answer every closed trace greedily and score the whole completion; also the tokens sampled."""
    room = model.config.block_size - len(CLOSE_THINKING)
    traces = [t for t in _unique(traces) if len(context) + len(t) < room]
    if not traces:
        return [], 0
    out = answer_after_thinking(model, tokenizer, [context + t for t in traces])
    close = [tokenizer.token_id(tag) for tag in CLOSE_THINKING]
    logprobs = sequence_logprobs(model, [context + t + close + a for t, a in zip(traces, out.tokens)],
                                 len(context), tokenizer.pad_id)
    beams = []
    for trace, answer, logprob in zip(traces, out.tokens, logprobs):
        completion = THINK + render(tokenizer, trace) + END_THINK + ANSWER + tokenizer.decode(answer)
        beams.append(Beam(trace, step_score(prompt, completion), logprob, completion))
    return beams, sum(len(a) + int(f) for a, f in zip(out.tokens, out.finished))


def _check_arguments(**counts) -> None:
    for name, value in counts.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


def beam_search(model, tokenizer, prompt: str, *, beam_width: int = 4, expansions: int = 4,
                temperature: float = 1.0, max_steps: int = 12,
                generator: torch.Generator | None = None) -> BeamResult:
    """Search for a trace whose every step the verifier accepts, one step at a time.

    Partial traces are ranked by how many rewrites are right before the first error, ties by
    log-probability; complete ones by `step_score`. The search stops at `max_steps`, when no
    beam is left, or as soon as a completion scores 1.0 (nothing can beat it, only tie it).
    """
    _check_arguments(beam_width=beam_width, expansions=expansions, max_steps=max_steps)
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string such as '(3+4)*2?', got {type(prompt).__name__}")
    context = tokenizer.encode(prompt + THINK, bos=True)
    beams = [Beam([], 0, 0.0)]
    best, tokens = None, 0
    for _ in range(max_steps):
        going_on, closed, sampled = expand_steps(model, tokenizer, context, beams, expansions=expansions,
                                            temperature=temperature, generator=generator)
        tokens += sampled
        complete, answer_tokens = complete_traces(model, tokenizer, prompt, context, closed)
        tokens += answer_tokens
        best = max([b for b in (best, *complete) if b is not None], key=beam_rank, default=None)
        if best is not None and best.rank == 1.0:
            break
        survivors = best_partials(model, tokenizer, prompt, context, going_on, beam_width)
        if not survivors:
            break
        beams = survivors
    if best is None:  # nothing completed: show the best partial trace, which scores 0
        return BeamResult(THINK + render(tokenizer, beams[0].thinking), 0.0, tokens)
    return BeamResult(best.completion, best.rank, tokens)


def beam_search_problems(model, tokenizer, problems, *, progress: bool = False, **kw) -> BeamSearchRun:
    """Beam search on every problem (one search at a time); accuracy by ch01's verifier."""
    results = [beam_search(model, tokenizer, p.prompt(), **kw)
               for p in tqdm(problems, desc="beam search", disable=not progress, leave=False,
                             mininterval=PROGRESS_SECONDS)]
    correct = sum(verify(r.completion, p.answer).correct for r, p in zip(results, problems))
    n = max(1, len(results))
    return BeamSearchRun(correct / n, sum(r.tokens_generated for r in results) / n,
                         [r.completion for r in results])
