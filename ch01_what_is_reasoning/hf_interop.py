"""Convert the course GPT to and from transformers' GPT2LMHeadModel (identical logits).

The course model is GPT-2 shaped on purpose: same LayerNorms, tanh-GELU, learned positions,
tied embeddings. The one real difference is storage: GPT-2 keeps its projections as `Conv1D`
modules whose weight is the transpose of an `nn.Linear` weight.
"""

from __future__ import annotations

import torch

from .model import GPT, GPTConfig

_TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def to_hf_config(cfg: GPTConfig, bos_id: int | None = None, eos_id: int | None = None,
                 pad_id: int | None = None):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
                      n_layer=cfg.n_layer, n_head=cfg.n_head, activation_function="gelu_new",
                      resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
                      layer_norm_epsilon=1e-5, tie_word_embeddings=True,
                      bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id)


def to_hf(model: GPT, tokenizer=None):
    """A transformers GPT2LMHeadModel with this model's weights (and the tokenizer's special ids)."""
    from transformers import GPT2LMHeadModel

    ids = (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) if tokenizer else (None,) * 3
    hf = GPT2LMHeadModel(to_hf_config(model.config, *ids))
    state = {}
    for name, tensor in model.state_dict().items():
        hf_name = name if name.startswith("lm_head") else f"transformer.{name}"
        state[hf_name] = tensor.t() if name.endswith(_TRANSPOSED) else tensor
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(".attn.bias") and not k.endswith("masked_bias")]
    if missing or unexpected:
        raise RuntimeError(f"weight names did not line up: missing {missing}, unexpected {unexpected}")
    return hf.to(next(model.parameters()).device).eval()


def from_hf(hf) -> GPT:
    """A course GPT with the weights of a transformers GPT2LMHeadModel."""
    c = hf.config
    problems = []
    if c.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
        problems.append(f"activation {c.activation_function!r} (need tanh-GELU 'gelu_new')")
    if not getattr(c, "tie_word_embeddings", True):
        problems.append("untied input/output embeddings (need tie_word_embeddings=True)")
    if abs(c.layer_norm_epsilon - 1e-5) > 1e-12:
        problems.append(f"layer_norm_epsilon={c.layer_norm_epsilon} (need 1e-5)")
    if getattr(c, "scale_attn_by_inverse_layer_idx", False) or getattr(c, "reorder_and_upcast_attn", False):
        problems.append("per-layer attention scaling options (need the GPT-2 defaults)")
    if not getattr(c, "scale_attn_weights", True):
        problems.append("scale_attn_weights=False (need attention scaled by 1/sqrt(head size))")
    n_inner = getattr(c, "n_inner", None)
    if n_inner is not None and n_inner != 4 * c.n_embd:
        problems.append(f"n_inner={n_inner} (need None or 4 * n_embd = {4 * c.n_embd})")
    if problems:
        raise ValueError("this GPT-2 variant does not convert exactly to the course GPT: "
                         + "; ".join(problems))
    model = GPT(GPTConfig(vocab_size=c.vocab_size, block_size=c.n_positions, n_layer=c.n_layer,
                          n_head=c.n_head, n_embd=c.n_embd))
    state = {}
    for name, tensor in hf.state_dict().items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # GPT-2's stored causal mask buffers (older transformers)
        ours = name.removeprefix("transformer.")
        state[ours] = tensor.t() if ours.endswith(_TRANSPOSED) else tensor
    model.load_state_dict(state)
    return model.to(next(hf.parameters()).device).eval()


@torch.no_grad()
def max_logit_difference(model: GPT, hf, idx: torch.Tensor) -> float:
    """Largest absolute difference between the two models' logits on `idx`."""
    return (model(idx) - hf(idx).logits).abs().max().item()
