"""Compute accounting: how many floating-point operations a run spent.

The standard approximation (Kaplan et al. 2020, "Scaling Laws for Neural Language Models"):
a forward pass costs about 2 FLOPs per parameter per token (one multiply, one add), and the
backward pass about twice the forward, so

    training  ~ 6 * N * tokens        (forward + backward, every token trained on)
    inference ~ 2 * N * tokens        (forward only, every token processed or generated)

with N = `model.num_params()`. What this leaves out, on purpose:
- attention's context-length term: scoring each token against the T tokens before it costs
  about 2 * n_layer * T * n_embd more FLOPs per forward token (Kaplan et al.'s count). Next
  to 2N ~ 24 * n_layer * n_embd**2 that is a share of about T / (12 * n_embd): ~8% for
  n_embd=128 and ~17% for an n_embd=64 student at a full 128-token context, less for shorter
  sequences. So these numbers undercount, and slightly more for the smaller model.
- embeddings: `num_params()` counts the token embedding once (it is tied to the output layer,
  whose matmul really does cost 2 * n_embd * vocab per token) and the position embeddings,
  which are a lookup and cost nothing. So position embeddings are slightly overcounted.
- KV-cache reuse: 2N per generated token assumes the cache (chapter 1's sampler has one);
  without it every new token would re-run the whole prefix.
- padding: padded positions in a batch cost real FLOPs but are not tokens; count real
  tokens only, so batching waste is not charged.
- everything that is not a matmul with the weights (softmax, layer norm, the optimizer step),
  and hardware efficiency: FLOPs are work done, not seconds or dollars (chapter 4).
"""

from __future__ import annotations


def count_params(model) -> int:
    """N in the formulas: every parameter of the model, the tied embedding counted once."""
    return int(model.num_params())


def training_flops(n_params: int, tokens: int) -> float:
    """FLOPs to train on `tokens` tokens (prompt tokens the loss masks out still cost a forward
    and backward pass, so count every token in the batch that is not padding)."""
    return 6 * n_params * tokens


def inference_flops(n_params: int, tokens: int) -> float:
    """FLOPs to process or generate `tokens` tokens (prompt tokens included, once each)."""
    return 2 * n_params * tokens
