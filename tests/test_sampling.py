"""Batched generation: greedy, seeded sampling, eos, forbid_first, top-k / top-p, limits."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.sampling import filter_logits, generate, left_pad

# The first edition's sampler (finished rows decode padding to the end) lives in benchmarks/,
# the baseline of benchmarks/speed.py; imported the way speed.py imports it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from first_edition import generate as first_edition_generate  # noqa: E402

V = 30
PAD = 0
NO_EOS = V + 100  # an id the model can never produce: generation runs to max_new_tokens


@pytest.fixture
def model():
    return make_model(V, block_size=32, n_layer=2, n_head=2, n_embd=16, seed=2, scale=10.0)


PROMPTS = [[1, 5, 7, 3, 9], [2], [4, 4, 8], [6, 11, 12, 13, 14, 15, 16]]


@torch.no_grad()
def reference_greedy(model, prompt, n, forbid_first=None):
    """Greedy decoding by full forward passes, no cache, no padding."""
    ids, out = list(prompt), []
    for t in range(n):
        logits = model(torch.tensor([ids]))[0, -1].clone()
        if t == 0 and forbid_first:
            logits[forbid_first] = float("-inf")
        nxt = int(logits.argmax())
        out.append(nxt)
        ids.append(nxt)
    return out


def test_greedy_equals_full_forward_reference(model):
    out = generate(model, [PROMPTS[0]], max_new_tokens=10, eos_id=NO_EOS, pad_id=PAD)
    assert out.tokens == [reference_greedy(model, PROMPTS[0], 10)]
    assert out.finished == [False]


def test_greedy_is_reproducible(model):
    a = generate(model, PROMPTS, max_new_tokens=12, eos_id=NO_EOS, pad_id=PAD)
    b = generate(model, PROMPTS, max_new_tokens=12, eos_id=NO_EOS, pad_id=PAD)
    assert a == b


def test_batched_equals_one_at_a_time_greedy(model):
    batched = generate(model, PROMPTS, max_new_tokens=12, eos_id=NO_EOS, pad_id=PAD)
    for prompt, tokens in zip(PROMPTS, batched.tokens):
        single = generate(model, [prompt], max_new_tokens=12, eos_id=NO_EOS, pad_id=PAD)
        assert single.tokens[0] == tokens
    small_batches = generate(model, PROMPTS, max_new_tokens=12, eos_id=NO_EOS, pad_id=PAD,
                             batch_size=3)
    assert small_batches == batched


def test_seeded_sampling_is_reproducible(model):
    kw = dict(max_new_tokens=15, eos_id=NO_EOS, pad_id=PAD, temperature=1.5)
    a = generate(model, PROMPTS, generator=torch.Generator().manual_seed(7), **kw)
    b = generate(model, PROMPTS, generator=torch.Generator().manual_seed(7), **kw)
    c = generate(model, PROMPTS, generator=torch.Generator().manual_seed(8), **kw)
    assert a == b
    assert a.tokens != c.tokens  # 60 tokens at temperature 1.5: a collision is (nearly) impossible


def test_stops_at_eos(model):
    greedy = reference_greedy(model, PROMPTS[0], 10)
    k = next(i for i in range(1, 10) if greedy[i] not in greedy[:i])  # first new token
    eos = greedy[k]
    out = generate(model, [PROMPTS[0]], max_new_tokens=10, eos_id=eos, pad_id=PAD)
    assert out.tokens == [greedy[:k]]
    assert out.finished == [True]


def test_generation_stops_computing_once_all_rows_finished(model, monkeypatch):
    greedy = reference_greedy(model, PROMPTS[0], 10)
    k = next(i for i in range(1, 10) if greedy[i] not in greedy[:i])
    calls = []
    real_forward = model.forward
    monkeypatch.setattr(model, "forward",
                        lambda *a, **kw: calls.append(1) or real_forward(*a, **kw))
    out = generate(model, [PROMPTS[0]], max_new_tokens=10, eos_id=greedy[k], pad_id=PAD)
    assert out.tokens == [greedy[:k]]
    assert len(calls) == k + 1  # the prompt, then one call per token before the end token


def test_eos_as_first_token_gives_empty_finished(model):
    eos = reference_greedy(model, PROMPTS[1], 1)[0]
    out = generate(model, [PROMPTS[1]], max_new_tokens=10, eos_id=eos, pad_id=PAD)
    assert out.tokens == [[]] and out.finished == [True]


def test_finished_rows_do_not_disturb_the_others(model):
    greedy = {i: reference_greedy(model, p, 12) for i, p in enumerate(PROMPTS)}
    eos = greedy[0][2]
    out = generate(model, PROMPTS, max_new_tokens=12, eos_id=eos, pad_id=PAD)
    for i in range(len(PROMPTS)):
        g = greedy[i]
        if eos in g:
            assert out.tokens[i] == g[:g.index(eos)] and out.finished[i]
        else:
            assert out.tokens[i] == g and not out.finished[i]
        assert eos not in out.tokens[i]


def test_forbid_first(model):
    first = reference_greedy(model, PROMPTS[2], 1)[0]
    out = generate(model, [PROMPTS[2]], max_new_tokens=6, eos_id=NO_EOS, pad_id=PAD,
                   forbid_first=[first])
    assert out.tokens[0][0] != first
    assert out.tokens[0] == reference_greedy(model, PROMPTS[2], 6, forbid_first=[first])


def test_forbid_first_when_sampling(model):
    prompts = [PROMPTS[1]] * 200
    first = reference_greedy(model, PROMPTS[1], 1)[0]
    # pad_id is a forbidden token, so no sampled token is mistaken for padding
    out = generate(model, prompts, max_new_tokens=1, eos_id=NO_EOS, pad_id=3,
                   temperature=3.0, forbid_first=[first, 3, 4],
                   generator=torch.Generator().manual_seed(0))
    assert all(t[0] not in (first, 3, 4) for t in out.tokens)


def test_top_k_1_equals_greedy(model):
    greedy = generate(model, PROMPTS, max_new_tokens=10, eos_id=NO_EOS, pad_id=PAD)
    sampled = generate(model, PROMPTS, max_new_tokens=10, eos_id=NO_EOS, pad_id=PAD,
                       temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(3))
    assert sampled == greedy


def test_tiny_top_p_equals_greedy(model):
    greedy = generate(model, PROMPTS, max_new_tokens=10, eos_id=NO_EOS, pad_id=PAD)
    sampled = generate(model, PROMPTS, max_new_tokens=10, eos_id=NO_EOS, pad_id=PAD,
                       temperature=1.0, top_p=1e-6, generator=torch.Generator().manual_seed(3))
    assert sampled == greedy


@torch.no_grad()
def test_top_k_samples_only_top_k(model):
    prompt = PROMPTS[3]
    logits = model(torch.tensor([prompt]))[0, -1]
    allowed = set(torch.topk(logits, 3).indices.tolist())
    pad = min(set(range(V)) - allowed)  # never sampled, so never mistaken for padding
    out = generate(model, [prompt] * 300, max_new_tokens=1, eos_id=NO_EOS, pad_id=pad,
                   temperature=5.0, top_k=3, generator=torch.Generator().manual_seed(1))
    seen = {t[0] for t in out.tokens}
    assert seen <= allowed
    assert len(seen) > 1  # at temperature 5 it really samples


def test_filter_logits_top_k():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    out = filter_logits(logits, top_k=2)
    assert torch.isinf(out).tolist() == [[True, False, True, False, True]]
    assert out[0, 1] == 5.0 and out[0, 3] == 4.0
    assert torch.equal(filter_logits(logits, top_k=None), logits)
    assert torch.equal(filter_logits(logits, top_k=100), logits)


def test_filter_logits_top_p():
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    keep = ~torch.isinf(filter_logits(logits, top_p=0.7))
    assert keep.tolist() == [[True, False, True, False]]  # 0.5 + 0.3 reaches 0.7
    keep = ~torch.isinf(filter_logits(logits, top_p=0.1))
    assert keep.tolist() == [[True, False, False, False]]  # always keep the most likely
    keep = ~torch.isinf(filter_logits(logits, top_p=0.85))
    assert keep.tolist() == [[True, False, True, True]]
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)


def test_left_pad():
    idx, mask = left_pad([[1, 2, 3], [4]], pad_id=9, device="cpu")
    assert idx.tolist() == [[1, 2, 3], [9, 9, 4]]
    assert mask.tolist() == [[True, True, True], [False, False, True]]


def test_max_new_tokens_is_clamped_to_the_context(model):
    prompt = list(range(1, 30))  # 29 of 32 positions
    out = generate(model, [prompt], max_new_tokens=50, eos_id=NO_EOS, pad_id=PAD)
    assert 1 <= len(out.tokens[0]) <= 32 - 29 + 1
    assert out.finished == [False]


def test_prompt_errors(model):
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[1], []], max_new_tokens=3, eos_id=NO_EOS)
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [], max_new_tokens=3, eos_id=NO_EOS)
    with pytest.raises(ValueError, match="shorten the prompt"):
        generate(model, [[1] * 32], max_new_tokens=3, eos_id=NO_EOS)


def test_training_mode_is_restored(model):
    model.train()
    generate(model, [[1, 2]], max_new_tokens=2, eos_id=NO_EOS)
    assert model.training
    model.eval()
    generate(model, [[1, 2]], max_new_tokens=2, eos_id=NO_EOS)
    assert not model.training


def test_generated_pad_tokens_are_kept(model):
    greedy = reference_greedy(model, PROMPTS[0], 6)
    pad = greedy[0]  # pretend the pad id is the model's first greedy token
    out = generate(model, [PROMPTS[0]], max_new_tokens=6, eos_id=NO_EOS, pad_id=pad)
    assert out.tokens == [greedy]


def _rows_finishing_at_different_times(model):
    """A prompt set and an end token on which some rows finish early and others run on."""
    many = [[(3 * i + j) % (V - 1) + 1 for j in range(1 + i % 4)] for i in range(16)]
    first = generate(model, many, max_new_tokens=1, eos_id=NO_EOS, pad_id=PAD, temperature=1.0,
                     generator=torch.Generator().manual_seed(0)).tokens
    counts = {}
    for row in first:
        counts[row[0]] = counts.get(row[0], 0) + 1
    return many, max(counts, key=counts.get)   # the commonest first token ends many rows at once


@pytest.mark.parametrize("temperature, top_p", [(0.0, None), (1.0, None), (0.7, 0.9)])
def test_dropping_finished_rows_writes_the_same_tokens(model, temperature, top_p):
    """Finished rows leave the batch and the cache, but the random draw still covers the whole
    batch: the same seed writes the same tokens as the first edition's sampler, which decodes
    the full batch to the end (benchmarks/first_edition.py)."""
    prompts, eos = _rows_finishing_at_different_times(model)
    kw = dict(max_new_tokens=20, eos_id=eos, pad_id=PAD, temperature=temperature, top_p=top_p)
    fast = generate(model, prompts, generator=torch.Generator().manual_seed(5), **kw)
    full = first_edition_generate(model, prompts, generator=torch.Generator().manual_seed(5), **kw)
    assert fast == full
    assert any(fast.finished) and len({len(t) for t in fast.tokens}) > 1   # rows end at different steps


def test_finished_rows_leave_the_model_calls(model, monkeypatch):
    """The model runs only on rows still writing."""
    prompts, eos = _rows_finishing_at_different_times(model)
    rows_seen = []
    real_forward = model.forward
    monkeypatch.setattr(model, "forward",
                        lambda idx, *a, **kw: rows_seen.append(idx.shape[0]) or real_forward(idx, *a, **kw))
    out = generate(model, prompts, max_new_tokens=20, eos_id=eos, pad_id=PAD, temperature=1.0,
                   generator=torch.Generator().manual_seed(5))
    still_writing = [sum(len(t) + f > step for t, f in zip(out.tokens, out.finished))
                     for step in range(1, len(rows_seen))]
    assert rows_seen[0] == len(prompts)
    assert rows_seen[1:] == still_writing        # every later call: only the unfinished rows
    assert min(rows_seen) < len(prompts)


def test_a_repeated_prompt_is_read_once(model, monkeypatch):
    """GRPO asks for G samples of each prompt: the prompt forward runs on the distinct prompts,
    and every row still gets its own sample (greedy rows equal one-at-a-time decoding)."""
    prompts = [PROMPTS[0]] * 4 + [PROMPTS[2]] * 3 + [PROMPTS[1]]
    rows_seen = []
    real_forward = model.forward
    monkeypatch.setattr(model, "forward",
                        lambda idx, *a, **kw: rows_seen.append(idx.shape) or real_forward(idx, *a, **kw))
    greedy = generate(model, prompts, max_new_tokens=6, eos_id=NO_EOS, pad_id=PAD)
    assert rows_seen[0][0] == 3 and rows_seen[1][0] == len(prompts)
    assert greedy.tokens == [reference_greedy(model, p, 6) for p in prompts]
    sampled = generate(model, prompts, max_new_tokens=6, eos_id=NO_EOS, pad_id=PAD, temperature=1.0,
                       generator=torch.Generator().manual_seed(1))
    assert len({tuple(t) for t in sampled.tokens[:4]}) > 1   # copies of a prompt sample apart
