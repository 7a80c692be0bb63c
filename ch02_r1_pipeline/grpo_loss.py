"""The GRPO objective, term by term (DeepSeekMath; TRL's GRPOTrainer conventions).

For each prompt, G completions are sampled and scored. Every token of completion i shares
the advantage A_i = (r_i - mean(r)) / (std(r) + eps) (Dr. GRPO drops the std). The per-token
loss is the clipped policy-gradient term plus an optional KL penalty to a frozen reference:

    loss_t = -min(rho_t * A, clip(rho_t, 1 - eps_low, 1 + eps_high) * A) + beta * k3_t
    rho_t  = exp(logp_t - old_logp_t),  k3_t = exp(ref_t - logp_t) - (ref_t - logp_t) - 1

and the per-token losses are aggregated in one of three ways (`loss_type`).
"""

from __future__ import annotations

import torch

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")


def group_advantages(rewards: torch.Tensor, scale_by_std: bool = True,
                     eps: float = 1e-4) -> torch.Tensor:
    """rewards (n_prompts, G) -> advantages of the same shape, relative to each group."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale_by_std:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || ref) per token: >= 0, and 0 where they agree."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def grpo_loss(logp, old_logp, advantages, mask, *, eps_low: float = 0.2,
              eps_high: float = 0.2, beta: float = 0.0, ref_logp=None,
              loss_type: str = "dapo", max_completion_length: int | None = None):
    """The GRPO loss over a batch of completions.

    logp, old_logp, ref_logp, mask: (N, T) per completion token (mask 1 for real tokens);
    advantages: (N,) one per completion. Returns (loss, stats).
    - grpo: mean over each sequence's tokens, then over sequences (long answers weigh less
      per token: the length bias Dr. GRPO points out);
    - dapo: sum over all tokens / number of tokens (token level);
    - dr_grpo: sum over all tokens / (N * max_completion_length), a constant.
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, not {loss_type!r}")
    mask = mask.to(logp.dtype)
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv
    per_token = -torch.min(unclipped, clipped)
    kl = None
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError("beta != 0 needs ref_logp (the frozen reference's log-probs)")
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()
    elif loss_type == "dapo":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1)
    else:
        length = max_completion_length or mask.shape[1]
        loss = (per_token * mask).sum() / (mask.shape[0] * length)
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        is_clipped = ((ratio < 1 - eps_low) & (adv < 0)) | ((ratio > 1 + eps_high) & (adv > 0))
        stats = {"clip_fraction": ((is_clipped.to(mask.dtype) * mask).sum() / n).item(),
                 "kl": 0.0 if kl is None else ((kl * mask).sum() / n).item()}
    return loss, stats
