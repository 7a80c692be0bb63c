"""A small GPT, GPT-2 shaped so it converts to and from transformers' GPT2LMHeadModel.

Three things beyond a textbook GPT, because later chapters need them:
- left-padded batches: each row carries its own positions and a key mask, so prompts of
  different lengths can be generated in one batch;
- a KV cache, so generating token t costs one token's work, not t tokens';
- `token_logprobs`, the log-probability of every token of a sequence (what RL optimises).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from course.runtime import ModelShape


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128   # longest sequence (prompt + completion) the model can see
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_shape(cls, shape: ModelShape, vocab_size: int, block_size: int = 128) -> GPTConfig:
        """The config of a model of `shape` (a setting's size knobs) for this vocabulary."""
        return cls(vocab_size=vocab_size, block_size=block_size, n_layer=shape.n_layer,
                   n_head=shape.n_head, n_embd=shape.n_embd)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)  # query, key, value in one matmul
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x, mask, cache=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:  # append this step's keys/values to the cached ones
            if cache.get("k") is not None:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        # GPT-2's tanh-approximated GELU ("gelu_new" in transformers), for identical logits.
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x, mask, cache=None):
        x = x + self.attn(self.ln_1(x), mask, cache)
        return x + self.mlp(self.ln_2(x))


def causal_mask(T: int, past: int = 0, device=None) -> torch.Tensor:
    """(T, past + T) bool: True where query i (at position past + i) may attend to key j.

    With a KV cache the T new queries come after `past` cached keys, so query i sees keys
    0 .. past + i: the lower triangle shifted right by `past`.
    """
    return torch.ones(T, past + T, dtype=torch.bool, device=device).tril(past)


class GPT(nn.Module):
    config_class = GPTConfig   # what course.runtime.load_checkpoint rebuilds a saved config as

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        # Position embeddings count; the tied output matrix is counted once.
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, key_mask=None, cache=None, positions=None, segment_ids=None):
        """Logits for every position of `idx` (B, T).

        key_mask (B, T_total) is True for real tokens and False for left padding; T_total is
        the cached length plus T. `cache` is a list with one dict per layer (see new_cache).
        segment_ids (B, T) marks packed documents: a token sees only its own document, and
        positions restart at 0 in each one (training only, no cache).
        """
        B, T = idx.shape
        past = 0 if not cache or cache[0].get("k") is None else cache[0]["k"].shape[2]
        if past + T > self.config.block_size:
            raise ValueError(
                f"sequence of {past + T} tokens is longer than the model's context "
                f"(block_size={self.config.block_size}); shorten the prompt or generate fewer tokens")
        if key_mask is None:
            key_mask = torch.ones(B, past + T, dtype=torch.bool, device=idx.device)
        causal = causal_mask(T, past, idx.device)
        mask = causal[None, None] & key_mask[:, None, None, :]
        if segment_ids is not None:
            if cache is not None:
                raise ValueError("segment_ids is for packed training batches, not cached decoding")
            mask = mask & (segment_ids[:, None, :, None] == segment_ids[:, None, None, :])
            if positions is None:  # restart at 0 where a new document begins
                idx_range = torch.arange(T, device=idx.device).expand(B, T)
                is_start = torch.ones_like(segment_ids, dtype=torch.bool)
                is_start[:, 1:] = segment_ids[:, 1:] != segment_ids[:, :-1]
                starts = torch.where(is_start, idx_range, torch.zeros_like(idx_range))
                positions = idx_range - starts.cummax(1).values
        if positions is None:  # count only real tokens, so left padding does not shift positions
            positions = (key_mask.long().cumsum(1) - 1).clamp(min=0)[:, past:]
        # A padding query row would see no key at all; let it see itself to avoid NaNs.
        mask = mask | torch.eye(T, past + T, dtype=torch.bool, device=idx.device).roll(past, 1)
        x = self.drop(self.wte(idx) + self.wpe(positions))
        for i, block in enumerate(self.h):
            x = block(x, mask, None if cache is None else cache[i])
        return self.lm_head(self.ln_f(x))

    def new_cache(self) -> list[dict]:
        return [{} for _ in self.h]

    @staticmethod
    def select_cache_rows(cache: list[dict], rows: torch.Tensor) -> None:
        """Keep the rows of a batch's KV cache that `rows` selects (a boolean mask: drop the
        rows that finished; or indices: copy a shared prompt's keys to each of its rows)."""
        for layer in cache:
            if layer.get("k") is not None:
                layer["k"], layer["v"] = layer["k"][rows], layer["v"][rows]

    def token_logprobs(self, idx, key_mask=None):
        """log p(idx[:, t] | idx[:, :t]) for t = 1..T-1, shape (B, T-1). RL's building block."""
        logits = self.forward(idx, key_mask)[:, :-1].float()
        return torch.log_softmax(logits, dim=-1).gather(-1, idx[:, 1:, None]).squeeze(-1)
