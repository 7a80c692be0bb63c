"""Training: the lr schedule, packed documents, completion-only masks, loss going down."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.training import (
    PackedDocuments,
    PromptCompletionBatches,
    TrainResult,
    lr_at,
    make_optimizer,
    train,
)


# ------------------------------------------------------------------ schedule
def test_lr_warmup_is_linear_and_reaches_peak():
    lrs = [lr_at(s, 100, 1.0, warmup=10) for s in range(10)]
    assert lrs == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(a < b for a, b in zip(lrs, lrs[1:]))
    assert lr_at(10, 100, 1.0, warmup=10) == pytest.approx(1.0)


def test_lr_cosine_decays_to_min_ratio():
    lr, warmup, steps = 3e-3, 5, 105
    after = [lr_at(s, steps, lr, warmup) for s in range(warmup, steps + 1)]
    assert all(a >= b for a, b in zip(after, after[1:]))  # monotone decay
    assert after[0] == pytest.approx(lr)
    assert after[-1] == pytest.approx(0.1 * lr)
    mid = lr_at(warmup + (steps - warmup) // 2, steps, lr, warmup)
    assert mid == pytest.approx(lr * (0.1 + 0.9 * 0.5))  # cosine half-way point
    assert lr_at(10 * steps, steps, lr, warmup) == pytest.approx(0.1 * lr)  # never below the floor
    assert lr_at(steps - 1, steps, lr, warmup, min_ratio=0.0) > 0


def test_lr_follows_cosine_formula():
    for s in range(20, 200, 17):
        progress = (s - 20) / 180
        expect = 1e-3 * (0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert lr_at(s, 200, 1e-3, 20, min_ratio=0.2) == pytest.approx(expect)


def test_lr_without_warmup_starts_at_peak():
    assert lr_at(0, 50, 0.5, warmup=0) == pytest.approx(0.5)


# ------------------------------------------------------------------ packed documents
TEXTS = ["12+3=15", "zig?<think></think><answer>42</answer>", "4*2=8 9-1=8", "7+1=8",
         "(1+2)*3?<answer>9</answer>"] * 6


def test_packed_documents_rows_start_at_boundaries(tok):
    data = PackedDocuments(TEXTS, tok, block_size=24)
    g = torch.Generator().manual_seed(0)
    x, y, mask, seg = data.sample(16, g)
    assert x.shape == y.shape == mask.shape == seg.shape == (16, 24)
    assert (x[:, 0] == tok.bos_id).all()
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one
    assert torch.equal(mask, y != tok.bos_id)
    # a new segment starts exactly at each BOS
    assert (seg[:, 0] == 1).all()
    assert torch.equal(seg[:, 1:] != seg[:, :-1], x[:, 1:] == tok.bos_id)
    assert data.n_tokens == sum(len(tok.encode(t)) + 2 for t in TEXTS)  # + BOS and EOS


def test_packed_documents_too_small_corpus(tok):
    with pytest.raises(ValueError, match="shorter than one block"):
        PackedDocuments(["1+1=2"], tok, block_size=64)


# ------------------------------------------------------------------ prompt / completion
def test_completion_only_mask_excludes_prompt_tokens(tok):
    pairs = [("12+3?", "<answer>15</answer>"), ("1?", "<answer>1</answer>")]
    data = PromptCompletionBatches(pairs, tok, block_size=32)
    assert len(data) == 2
    for (prompt, completion), ids, mask in zip(pairs, data.rows, data.masks):
        p = tok.encode(prompt, bos=True)
        c = tok.encode(completion, eos=True)
        assert ids == p + c
        targets = ids[1:]
        trained = [t for t, m in zip(targets, mask) if m]
        assert trained == c  # exactly the completion (with EOS), nothing from the prompt
    x, y, mask, seg = data.sample(8, torch.Generator().manual_seed(0))
    assert seg is None
    assert x.shape == y.shape == mask.shape
    # padding targets are never trained on, and every row trains on its completion
    assert not mask[y == tok.pad_id].any()
    for r in range(8):
        trained = y[r][mask[r]].tolist()
        assert trained[-1] == tok.eos_id
        assert tok.decode(trained) in {c for _, c in pairs}


def test_full_mask_when_not_completion_only(tok):
    data = PromptCompletionBatches([("12+3?", "15")], tok, 32, completion_only=False)
    assert all(data.masks[0])
    assert len(data.masks[0]) == len(data.rows[0]) - 1


def test_too_long_example_raises(tok):
    with pytest.raises(ValueError, match="does not fit the context"):
        PromptCompletionBatches([("1+1?" * 10, "2")], tok, block_size=16)


def test_optimizer_groups(tok):
    model = make_model(tok.vocab_size, n_layer=1)
    opt = make_optimizer(model, 1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] > 0 and no_decay["weight_decay"] == 0
    assert all(p.dim() >= 2 for p in decay["params"])
    assert all(p.dim() < 2 for p in no_decay["params"])
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == model.num_params()


# ------------------------------------------------------------------ the loop
def _mean_loss(model, batches, n=4):
    g = torch.Generator().manual_seed(123)
    losses = []
    with torch.no_grad():
        for _ in range(n):
            x, y, mask, seg = batches.sample(16, g)
            logits = model(x, segment_ids=seg)
            lpt = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                    y.reshape(-1), reduction="none")
            losses.append(((lpt * mask.reshape(-1)).sum() / mask.sum()).item())
    return sum(losses) / n


def test_loss_decreases_on_packed_corpus(tok):
    model = make_model(tok.vocab_size, block_size=32, n_layer=1, n_embd=32)
    data = PackedDocuments(TEXTS, tok, block_size=32)
    before = _mean_loss(model, data)
    result = train(model, data, steps=40, batch_size=8, lr=3e-3, log_every=5, progress=False)
    after = _mean_loss(model, data)
    assert after < 0.8 * before
    assert isinstance(result, TrainResult)
    assert result.history[0]["step"] == 0 and result.history[-1]["step"] == 39
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.tokens == 40 * 8 * 32
    assert result.tokens_per_second > 0
    assert not model.training  # left in eval mode


def test_loss_decreases_on_prompt_completion(tok):
    pairs = [(f"{a}+{b}?", f"<answer>{a + b}</answer>") for a in range(1, 5) for b in range(1, 5)]
    model = make_model(tok.vocab_size, block_size=32, n_layer=1, n_embd=32)
    data = PromptCompletionBatches(pairs, tok, block_size=32)
    before = _mean_loss(model, data)
    train(model, data, steps=40, batch_size=8, lr=3e-3, progress=False)
    assert _mean_loss(model, data) < 0.7 * before


def test_history_records_schedule(tok):
    model = make_model(tok.vocab_size, block_size=32, n_layer=1)
    data = PackedDocuments(TEXTS, tok, block_size=32)
    result = train(model, data, steps=12, batch_size=2, lr=1e-2, warmup=4, log_every=1,
                   progress=False)
    assert [h["lr"] for h in result.history] == pytest.approx(
        [lr_at(s, 12, 1e-2, 4) for s in range(12)])


def test_training_is_reproducible(tok):
    data = PackedDocuments(TEXTS, tok, block_size=32)
    states = []
    for _ in range(2):
        model = make_model(tok.vocab_size, block_size=32, n_layer=1)
        train(model, data, steps=5, batch_size=4, lr=1e-2, seed=3, progress=False)
        states.append(model.state_dict())
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k])


def test_masked_tokens_get_no_gradient_signal(tok):
    """Changing prompt targets (masked out) must not change the loss that train() minimises."""
    class Fixed:
        def __init__(self, y):
            self.y = y

        def sample(self, batch_size, generator):
            x = torch.tensor([[1, 10, 11, 12, 13, 14]])
            mask = torch.tensor([[False, False, True, True, True, True]])
            return x, self.y, mask, None

    y1 = torch.tensor([[10, 11, 12, 13, 14, 2]])
    y2 = torch.tensor([[20, 21, 12, 13, 14, 2]])  # differs only where mask is False
    y3 = torch.tensor([[10, 11, 22, 13, 14, 2]])  # differs where mask is True
    losses = []
    for y in (y1, y2, y3):
        model = make_model(tok.vocab_size, block_size=32, n_layer=1)
        r = train(model, Fixed(y), steps=1, batch_size=1, lr=1e-3, progress=False)
        losses.append(r.history[0]["loss"])
    assert losses[0] == pytest.approx(losses[1])
    assert losses[0] != pytest.approx(losses[2])
