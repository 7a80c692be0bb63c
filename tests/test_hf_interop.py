"""Conversion to and from transformers' GPT2LMHeadModel: identical logits, identical greedy."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from helpers import make_model  # noqa: E402

from ch01_what_is_reasoning.hf_interop import (  # noqa: E402
    from_hf,
    max_logit_difference,
    to_hf,
    to_hf_config,
)
from ch01_what_is_reasoning.sampling import generate  # noqa: E402

ATOL = 1e-5


@pytest.fixture
def ours(tok):
    return make_model(tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16, seed=5,
                      scale=5.0)


def _ids(tok, n=2, t=20, seed=0):
    return torch.randint(0, tok.vocab_size, (n, t), generator=torch.Generator().manual_seed(seed))


def test_to_hf_identical_logits(ours, tok):
    hf = to_hf(ours, tok)
    assert isinstance(hf, transformers.GPT2LMHeadModel)
    assert not hf.training
    idx = _ids(tok)
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, ours(idx), atol=ATOL, rtol=0)
    assert max_logit_difference(ours, hf, idx) < ATOL
    assert hf.config.eos_token_id == tok.eos_id
    assert hf.config.bos_token_id == tok.bos_id
    assert hf.config.pad_token_id == tok.pad_id
    assert hf.config.n_positions == 32


def test_to_hf_config():
    from ch01_what_is_reasoning.model import GPTConfig

    c = to_hf_config(GPTConfig(vocab_size=50, block_size=64, n_layer=3, n_head=2, n_embd=8))
    assert (c.vocab_size, c.n_positions, c.n_layer, c.n_head, c.n_embd) == (50, 64, 3, 2, 8)
    assert c.activation_function == "gelu_new"


def _random_hf(vocab=45, **kw):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=vocab, n_positions=32, n_embd=16, n_layer=2,
                                  n_head=2, bos_token_id=None, eos_token_id=None,
                                  **{"activation_function": "gelu_new", **kw})
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # make every weight (LayerNorms and biases too) non-trivial
        for p in hf.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return hf


def test_from_hf_identical_logits(tok):
    hf = _random_hf(tok.vocab_size)
    ours = from_hf(hf)
    assert ours.config.block_size == 32 and ours.config.n_layer == 2
    idx = _ids(tok, 3, 17)
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), hf(idx).logits, atol=ATOL, rtol=0)


def test_round_trip_ours_hf_ours(ours, tok):
    back = from_hf(to_hf(ours, tok))
    for k, v in ours.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v, atol=0, rtol=0)


def test_from_hf_accepts_pytorch_tanh_gelu(tok):
    hf = _random_hf(tok.vocab_size, activation_function="gelu_pytorch_tanh")
    idx = _ids(tok)
    with torch.no_grad():
        torch.testing.assert_close(from_hf(hf)(idx), hf(idx).logits, atol=ATOL, rtol=0)


def test_from_hf_rejects_other_activations():
    with pytest.raises(ValueError, match="tanh-GELU"):
        from_hf(_random_hf(activation_function="relu"))


@pytest.mark.parametrize("kw", [{"tie_word_embeddings": False}, {"layer_norm_epsilon": 1e-2},
                                {"scale_attn_by_inverse_layer_idx": True}],
                         ids=["untied", "ln_eps", "inverse_layer_idx"])
def test_from_hf_unsupported_config_raises_or_matches(kw, tok):
    hf = _random_hf(tok.vocab_size, **kw)
    try:
        ours = from_hf(hf)
    except ValueError:
        return  # refusing is fine
    idx = _ids(tok)
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), hf(idx).logits, atol=ATOL, rtol=0)


@pytest.mark.parametrize("prompt", ["12+3?", "(۱۲+۸)*۲?<think>", "zig?"])
def test_hf_generate_greedy_matches_ours(ours, tok, prompt):
    hf = to_hf(ours, tok)
    ids = tok.encode(prompt, bos=True)
    n = 32 - len(ids)
    mine = generate(ours, [ids], max_new_tokens=n, eos_id=tok.eos_id, pad_id=tok.pad_id)
    with torch.no_grad():
        out = hf.generate(torch.tensor([ids]),
                          attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                          do_sample=False, max_new_tokens=n, eos_token_id=tok.eos_id,
                          pad_token_id=tok.pad_id)
    theirs = out[0, len(ids):].tolist()
    finished = tok.eos_id in theirs
    if finished:
        theirs = theirs[: theirs.index(tok.eos_id)]  # ours excludes the end token
    assert mine.tokens[0] == theirs
    assert mine.finished == [finished]
    assert len(theirs) >= 5  # a real comparison, not two empty lists
