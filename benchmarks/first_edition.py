"""The first edition's sampler, kept as the baseline of benchmarks/speed.py's A/B and as the
reference tests/test_sampling.py checks the course's sampler against: the whole batch decodes
until its longest row ends (finished rows write padding), every prompt is read once per row,
and the KV cache grows by torch.cat. Same seed, same tokens as the course's sampler
(ch01_what_is_reasoning/sampling.py), which drops finished rows and reads a prompt once."""

from __future__ import annotations

import torch

from ch01_what_is_reasoning.sampling import Generation, filter_logits, left_pad


@torch.no_grad()
def generate(model, prompts: list[list[int]], *, max_new_tokens: int, eos_id: int, pad_id: int,
             temperature: float, top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None) -> Generation:
    """The first edition's decoding of one batch of valid prompts (no checks of the settings)."""
    model.eval()
    max_new_tokens = min(max_new_tokens, model.config.block_size - max(map(len, prompts)))
    device = next(model.parameters()).device
    return _generate_batch(model, prompts, max_new_tokens, eos_id, pad_id, temperature, top_k,
                           top_p, generator, None, device)


def _generate_batch(model, prompts, max_new_tokens, eos_id, pad_id, temperature, top_k, top_p,
                    generator, forbid_first, device) -> Generation:
    idx, key_mask = left_pad(prompts, pad_id, device)
    B = idx.shape[0]
    cache = model.new_cache()
    logits = model(idx, key_mask, cache)[:, -1]
    done = torch.zeros(B, dtype=torch.bool, device=device)
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    for t in range(max_new_tokens):
        logits = logits.float()
        if t == 0 and forbid_first:
            logits[:, forbid_first] = float("-inf")
        if temperature <= 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
            nxt = torch.multinomial(probs.cpu() if generator is not None and generator.device.type
                                    == "cpu" else probs, 1, generator=generator).squeeze(-1)
            nxt = nxt.to(device)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        out[:, t] = nxt
        done |= nxt == eos_id
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        key_mask = torch.cat([key_mask, (~done | (nxt == eos_id))[:, None]], dim=1)
        logits = model(nxt[:, None], key_mask, cache)[:, -1]
    tokens, finished = [], []
    for row in out.tolist():
        if eos_id in row:
            tokens.append(row[: row.index(eos_id)])
            finished.append(True)
        else:
            tokens.append(row)  # ran out of room: every generated token is kept
            finished.append(False)
    return Generation(tokens, finished)
