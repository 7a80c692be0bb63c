"""Batched generation with the KV cache: greedy, temperature, top-k and top-p.

Prompts of different lengths are left-padded into one batch; every row stops at the end
token. A `torch.Generator` makes sampling reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm


@dataclass
class Generation:
    tokens: list[list[int]]     # generated tokens per prompt, end token excluded
    finished: list[bool]        # True where the end token was produced (not cut by max_new_tokens)


def filter_logits(logits, top_k: int | None = None, top_p: float | None = None):
    """Keep the top-k tokens and/or the smallest set whose probability reaches top_p.

    top_k None or 0 keeps every token; top_p None or 1.0 keeps every token.
    """
    check_filters(top_k, top_p)
    if top_k is not None and top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
        drop = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p  # keep the first token
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def check_filters(top_k: int | None, top_p: float | None) -> None:
    """ValueError for a top_k or top_p that would silently sample from nothing (or everything)."""
    if top_k is not None and not top_k >= 0:
        raise ValueError(f"top_k must be >= 0 (0 or None keeps every token), got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:  # `not` so that NaN fails too
        raise ValueError(f"top_p must be in (0, 1] (1 or None keeps every token), got {top_p}")


def check_token_ids(prompts: list[list[int]], vocab_size: int, pad_id: int) -> None:
    """ValueError naming the first token id the model has no embedding for (instead of
    torch's 'index out of range in self' from deep inside the embedding)."""
    for i, prompt in enumerate(prompts):
        bad = [t for t in prompt if not 0 <= t < vocab_size]
        if bad:
            raise ValueError(
                f"prompt {i} holds token id {bad[0]}, outside the model's vocabulary of "
                f"{vocab_size} ids (0..{vocab_size - 1}): encode prompts with the tokenizer the "
                f"model was trained with")
    if not 0 <= pad_id < vocab_size:
        raise ValueError(f"pad_id {pad_id} is outside the model's vocabulary of {vocab_size} ids "
                         f"(0..{vocab_size - 1}): use the tokenizer's pad_id")


def left_pad(prompts: list[list[int]], pad_id: int, device):
    width = max(len(p) for p in prompts)
    idx = torch.full((len(prompts), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(prompts), width), dtype=torch.bool, device=device)
    for i, p in enumerate(prompts):
        idx[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = True
    return idx, mask


@torch.no_grad()
def generate(model, prompts: list[list[int]], *, max_new_tokens: int, eos_id: int, pad_id: int = 0,
             temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, forbid_first: list[int] | None = None,
             batch_size: int = 512, progress: bool = False) -> Generation:
    """Continue every prompt (a list of token ids) until `eos_id` or `max_new_tokens`.

    temperature 0 is greedy decoding. `forbid_first` lists tokens the first generated token
    may not be (e.g. `</think>` right after `<think>` forces the model to think).
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token (start it with the BOS token)")
    # Bad settings fail here, by name, not as NaN probabilities or an index error mid-batch.
    if not temperature >= 0:  # `not` so that NaN fails too
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    check_filters(top_k, top_p)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    check_token_ids(prompts, model.config.vocab_size, pad_id)
    longest = max(len(p) for p in prompts)
    room = model.config.block_size - longest
    if room < 1:
        raise ValueError(f"a prompt of {longest} tokens leaves no room in the model's context "
                         f"of {model.config.block_size} tokens; shorten the prompt")
    max_new_tokens = min(max_new_tokens, room)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tokens, finished = [], []
    starts = range(0, len(prompts), batch_size)
    bar = tqdm(starts, desc="generating", disable=not progress or len(starts) < 2, leave=False,
               mininterval=2.0)
    for s in bar:
        out = _generate_batch(model, prompts[s:s + batch_size], max_new_tokens, eos_id, pad_id,
                              temperature, top_k, top_p, generator, forbid_first, device)
        tokens += out.tokens
        finished += out.finished
    model.train(was_training)
    return Generation(tokens, finished)


def _generate_batch(model, prompts, max_new_tokens, eos_id, pad_id, temperature, top_k, top_p,
                    generator, forbid_first, device) -> Generation:
    """One batch. A row that has written the end token leaves the batch and the KV cache, so
    the model runs only on rows still writing: a batch costs the tokens it writes, not
    (rows x its longest answer). The random draw still covers every row of the batch (a
    finished row's draw is thrown away): the random stream, and so every sample, is exactly
    the one the full batch would use (benchmarks/first_edition.py decodes the full batch to
    the end, as the first edition did; tests check that both write the same tokens)."""
    logits, key_mask, cache = _read_prompts(model, prompts, pad_id, device)
    if forbid_first:   # the first generated token may not be one of these
        logits = logits.float()
        logits[:, forbid_first] = float("-inf")
    batch = len(prompts)
    rows = torch.arange(batch, device=device)      # the batch row of each row still writing
    out = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device)
    for t in range(max_new_tokens):
        nxt = _next_tokens(logits.float(), rows, batch, temperature, top_k, top_p, generator)
        out[rows, t] = nxt
        if t == max_new_tokens - 1:
            break
        rows, nxt, key_mask = _drop_finished(model, cache, rows, nxt, key_mask, eos_id)
        if len(rows) == 0:
            break
        key_mask = torch.cat([key_mask, key_mask.new_ones(len(rows), 1)], dim=1)
        logits = model(nxt[:, None], key_mask, cache)[:, -1]
    return _cut_at_end(out.tolist(), eos_id)


def _read_prompts(model, prompts, pad_id, device):
    """Run the prompts through the model once, filling a new KV cache: (last logits, key mask,
    cache), one row per prompt. A prompt repeated in the batch (GRPO samples each one G
    times) is read once: its keys, values and last logits are then copied to every row that
    asked for it."""
    distinct, which = {}, []
    for p in prompts:
        which.append(distinct.setdefault(tuple(p), len(distinct)))
    idx, key_mask = left_pad([list(p) for p in distinct], pad_id, device)
    cache = model.new_cache()
    logits = model(idx, key_mask, cache)[:, -1]
    if len(distinct) < len(prompts):
        which = torch.tensor(which, device=device)
        logits, key_mask = logits[which], key_mask[which]
        model.select_cache_rows(cache, which)
    return logits, key_mask, cache


def _next_tokens(logits, rows, batch: int, temperature, top_k, top_p, generator):
    """The next token of each row still writing (`rows`: their rows in the batch): greedy at
    temperature 0, else sampled, with one draw for every row of the batch (a finished row's
    draw is thrown away), so that the random stream is the full batch's."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
    if len(rows) < batch:   # finished rows draw from a uniform row, and the draw is dropped
        probs = torch.ones(batch, probs.shape[-1], device=rows.device).index_copy(0, rows, probs)
    on_cpu = generator is not None and generator.device.type == "cpu"
    nxt = torch.multinomial(probs.cpu() if on_cpu else probs, 1, generator=generator)
    nxt = nxt.squeeze(-1).to(rows.device)
    return nxt[rows] if len(nxt) > len(rows) else nxt


def _drop_finished(model, cache, rows, nxt, key_mask, eos_id):
    """Rows that have just written the end token leave the batch and the KV cache:
    (rows, tokens, key mask) of the rows still writing."""
    ended = nxt == eos_id
    if bool(ended.any()):
        keep = ~ended
        rows, nxt, key_mask = rows[keep], nxt[keep], key_mask[keep]
        if len(rows):
            model.select_cache_rows(cache, keep)
    return rows, nxt, key_mask


def _cut_at_end(rows: list[list[int]], eos_id: int) -> Generation:
    """Each row's tokens up to its end token (excluded), and whether it wrote one."""
    tokens, finished = [], []
    for row in rows:
        if eos_id in row:
            tokens.append(row[: row.index(eos_id)])
            finished.append(True)
        else:
            tokens.append(row)  # ran out of room: every generated token is kept
            finished.append(False)
    return Generation(tokens, finished)
