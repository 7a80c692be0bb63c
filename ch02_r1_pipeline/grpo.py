"""The GRPO loop: sample G completions per prompt, score them with rule rewards, and push
up the tokens of completions that beat their group's average.

One step (`GRPOTrainer.grpo_step`) = rollouts (the KV-cache sampler of chapter 1) -> rewards
-> group-relative advantages -> mu updates of the clipped objective in grpo_loss.py; it returns
the loss and its stats: reward, accuracy, format rate, response length, consistency, KL, clip
fraction and entropy. `train_step` logs each step with the bookkeeping around it: the tokens
it spent, where its time went, and any statistics of its texts a chapter asks for.
"""

from __future__ import annotations

import copy
import functools
import math
import random
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ch01_what_is_reasoning.sampling import generate
from ch01_what_is_reasoning.training import PROGRESS_SECONDS, make_optimizer, spent
from course.runtime import NonFiniteError, atomic_save, check_finite, load_state
from course.setting_ranges import check_settings

from .grpo_loss import group_advantages, grpo_loss
from .rewards import ACCURACY_FORMAT, REWARDS, is_mixed


@dataclass
class GRPOConfig:
    steps: int = 60
    prompts_per_step: int = 8
    group_size: int = 8                # G completions per prompt (R1-Zero used 16)
    temperature: float = 1.0           # R1-Zero's rollout temperature
    max_new_tokens: int = 110
    lr: float = 1e-4
    mu: int = 1                        # updates per batch of rollouts
    eps_low: float = 0.2
    eps_high: float = 0.28             # DAPO's clip-higher
    beta: float = 0.0                  # KL to the frozen start model (k3); TRL's default is 0
    loss_type: str = "dapo"
    scale_by_std: bool = True          # False: Dr. GRPO advantages
    skip_equal_groups: bool = True     # groups whose rewards are all equal teach nothing
    mask_truncated: bool = True        # completions cut by max_new_tokens get no gradient
    reward_weights: dict = field(default_factory=lambda: dict(ACCURACY_FORMAT))  # name -> weight
    seed: int = 0

    def __post_init__(self):
        # Caught here, where the setting is made, not deep inside a training step: every field
        # against its declared range (course/setting_ranges.py), as a
        # SettingError (a ValueError) naming it. Reward names are checked where the rewards are
        # known (GRPOTrainer, and the pipeline before its first stage). A subclass's new fields
        # are its own to check.
        check_settings(self, strict=False)


LOGGED_REWARDS = ("accuracy", "format", "consistency")   # always in the logs, whatever the weights


def score(completions, prompts, answers, weights: dict, rewards: dict = REWARDS):
    """Weighted sum of the named rewards, plus each reward on its own (for the logs).

    `rewards` maps names to functions with TRL's reward signature; `weights` picks and weighs
    them by name."""
    missing = sorted(set(weights) - set(rewards))
    if missing:
        raise ValueError(f"no reward function named {missing}: known rewards are {sorted(rewards)}; "
                         "pass your own as GRPOTrainer(..., rewards={'name': function})")
    parts = {name: call_reward(name, rewards[name], completions, prompts, answers)
             for name in sorted(set(weights) | set(LOGGED_REWARDS))}
    total = [sum(weights.get(name, 0.0) * parts[name][i] for name in parts)
             for i in range(len(completions))]
    return total, parts


class RewardError(ValueError):
    """A reward function broke its contract: one finite number per completion."""


def call_reward(name: str, function, completions, prompts, answers) -> list[float]:
    """Call one reward as the trainer (and TRL) does, and check what it returns.

    It sees tuples, so a reward that edits its inputs cannot change what the next one sees."""
    try:
        values = function(tuple(completions), prompts=tuple(prompts), answer=tuple(answers))
    except Exception as err:   # say which reward failed: the trainer calls several
        raise RewardError(f"reward {name!r} raised {type(err).__name__}: {err} (the trainer "
                          f"calls it as reward(completions, prompts=..., answer=...), with "
                          f"tuples)") from err
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise RewardError(f"reward {name!r} returned {values!r:.60}, a {type(values).__name__}: a "
                          f"reward returns a list with one number per completion")
    if len(values) != len(completions):
        raise RewardError(f"reward {name!r} returned {len(values)} values for {len(completions)} "
                          f"completions (it must return one per completion)")
    out = []
    for value, completion in zip(values, completions):
        try:
            number = None if isinstance(value, (str, bytes)) else float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number):
            raise RewardError(f"reward {name!r} returned {value!r:.40} for the completion "
                              f"{completion!r:.120}: a reward must be a finite number")
        out.append(number)
    return out


def _pad_right(rows: list[list[int]], pad_id: int, device):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids


def completion_logprobs(model, prompt_ids, completion_ids, pad_id, with_entropy=False,
                        temperature: float = 1.0):
    """Per-token log-probs (and entropies) of each completion given its prompt: (N, C).

    Scored at the sampling `temperature` (log_softmax(logits / T)): the distribution the
    rollouts were drawn from, so the ratio, the KL and the entropy are those of that policy."""
    device = next(model.parameters()).device
    rows = [p + c for p, c in zip(prompt_ids, completion_ids)]
    ids = _pad_right(rows, pad_id, device)
    logits = model(ids)[:, :-1].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, ids[:, 1:, None]).squeeze(-1)
    width = max(len(c) for c in completion_ids)
    out = torch.zeros(len(rows), width, device=device)
    ent = torch.zeros(len(rows), width, device=device)
    mask = torch.zeros(len(rows), width, device=device)
    entropy = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        start = len(p) - 1  # logp index of the first completion token
        out[i, : len(c)] = logp[i, start:start + len(c)]
        mask[i, : len(c)] = 1
        if with_entropy:
            ent[i, : len(c)] = entropy[i, start:start + len(c)]
    return out, mask, (ent if with_entropy else None)


def rollout_stats(texts: list[str], completion_ids: list[list[int]], parts: dict) -> dict:
    """What a step's completions show, each a mean over them: the accuracy, format and
    consistency rewards, language mixing, length (tokens, end token included) and ' wait '."""
    n = len(texts)
    return {"accuracy": sum(parts["accuracy"]) / n, "format_rate": sum(parts["format"]) / n,
            "consistency": sum(parts["consistency"]) / n,
            "mixing_rate": sum(map(is_mixed, texts)) / n,
            "mean_response_tokens": sum(map(len, completion_ids)) / n,
            "wait_rate": sum(" wait " in t for t in texts) / n}


@dataclass
class StepBatch:
    """What one step sampled, and which rows its update trained on (read by the log)."""

    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]    # end token included where one was written
    texts: list[str]
    kept: list[int]                    # the rows the update trained on


TIMED = ("rollout_seconds", "logprob_seconds", "backward_seconds")   # where a step's time goes


def timed(key: str):
    """Bookkeeping, not the idea: a method's run time is added to `self.phase_seconds[key]`
    (each step's log holds them; benchmarks/speed.py reads them)."""
    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            start = time.perf_counter()
            out = method(self, *args, **kwargs)
            self.phase_seconds[key] += time.perf_counter() - start
            return out
        return run
    return wrap


class GRPOTrainer:
    """Runs GRPO on a GPT from chapter 1. `sample_prompts(rng, n)` yields (prompt, answer).

    `rewards` adds reward functions to the registry (or replaces some), by name; the config's
    `reward_weights` says which ones count and how much. `text_stats` are functions of a
    step's completion texts whose numbers join that step's log (chapter 2's stages pass the
    aha moment's self-correction counts, aha.correction_rates)."""

    def __init__(self, model, tokenizer, sample_prompts, config: GRPOConfig, rewards: dict | None = None,
                 text_stats=()):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.rewards = {**REWARDS, **(rewards or {})}
        missing = sorted(set(config.reward_weights) - set(self.rewards))
        if missing:
            raise ValueError(f"no reward function named {missing}: known rewards are "
                             f"{sorted(self.rewards)}; pass your own as rewards={{'name': function}}")
        self.sample_prompts = sample_prompts
        self.optimizer = make_optimizer(model, config.lr, weight_decay=0.0)
        self.reference = None
        if config.beta != 0.0:
            self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.rng = random.Random(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.history: list[dict] = []
        self.step = 0
        self.text_stats = tuple(text_stats)
        self.phase_seconds = dict.fromkeys(TIMED, 0.0)
        self.last_batch: StepBatch | None = None

    def sample(self, prompt_ids: list[list[int]]) -> tuple[list[list[int]], list[bool]]:
        """The one sampling hook: (generated tokens without the end token, finished) per prompt.
        Another policy (chapter 4's Hugging Face model) overrides only this."""
        tok, cfg = self.tokenizer, self.config
        out = generate(self.model, prompt_ids, max_new_tokens=cfg.max_new_tokens,
                       eos_id=tok.eos_id, pad_id=tok.pad_id, temperature=cfg.temperature,
                       generator=self.generator)
        return out.tokens, out.finished

    @timed("rollout_seconds")
    def rollouts(self, prompts: list[str]):
        tok, cfg = self.tokenizer, self.config
        prompt_ids = [tok.encode(p, bos=True) for p in prompts for _ in range(cfg.group_size)]
        try:
            tokens, finished = self.sample(prompt_ids)
        except RuntimeError as err:   # torch.multinomial's words for NaN or infinite logits
            if "probability tensor" not in str(err):
                raise
            raise NonFiniteError(f"step {self.step}: the policy's next-token probabilities are "
                                 f"NaN or infinite: training diverged (lower the learning "
                                 f"rate)") from err
        # The end token belongs to the completion: the model must learn to stop.
        completion_ids = [t + [tok.eos_id] if f else t for t, f in zip(tokens, finished)]
        texts = [tok.decode(t) for t in tokens]
        return prompt_ids, completion_ids, texts, finished

    # ------------------------------------------------------------ one step: the idea
    def grpo_step(self) -> tuple[torch.Tensor | None, dict]:
        """rollouts -> rewards -> group-relative advantages -> the clipped loss -> the update.
        Returns the loss (None when no row was kept: nothing to learn) and the step's stats."""
        cfg, G = self.config, self.config.group_size
        batch = self.sample_prompts(self.rng, cfg.prompts_per_step)
        prompts = [p for p, _ in batch]
        # 1. rollouts: G completions of every prompt, sampled from the policy
        prompt_ids, completion_ids, texts, finished = self.rollouts(prompts)
        # 2. rewards: the weighted rule rewards of each completion
        rewards, parts = score(texts, [p for p in prompts for _ in range(G)],
                               [a for _, a in batch for _ in range(G)], cfg.reward_weights,
                               self.rewards)
        r = torch.tensor(rewards).view(len(prompts), G)
        # 3. advantages: each completion against its own group
        advantages = group_advantages(r, cfg.scale_by_std).reshape(-1)
        keep = torch.ones(len(texts), dtype=torch.bool)
        if cfg.skip_equal_groups:   # a group whose rewards are all equal teaches nothing
            keep = (r.max(1).values > r.min(1).values).repeat_interleave(G)
        if cfg.mask_truncated:      # an answer cut off by max_new_tokens gets no gradient
            keep &= torch.tensor(finished)
        kept = keep.nonzero().squeeze(-1).tolist()
        self.last_batch = StepBatch(prompt_ids, completion_ids, texts, kept)
        stats = {"reward": float(r.mean()), **rollout_stats(texts, completion_ids, parts),
                 "kept_fraction": float(keep.float().mean()), "kl": 0.0, "clip_fraction": 0.0,
                 "entropy": 0.0}
        if not kept:
            return None, stats
        # 4. the clipped loss on the kept rows, and 5. the update
        loss, update_stats = self.update([prompt_ids[i] for i in kept],
                                         [completion_ids[i] for i in kept], advantages[kept])
        return loss, {**stats, **update_stats}

    def update(self, prompt_ids, completion_ids, advantages) -> tuple[torch.Tensor, dict]:
        """mu passes of the clipped objective over the kept rows, one optimizer step each.
        With mu > 1 the ratio is to the log-probs before the first pass (the policy that
        sampled); with beta != 0 the KL to the frozen reference joins the loss. Returns the
        last pass's loss and stats (KL, clip fraction, entropy)."""
        cfg = self.config
        self.model.train()
        advantages = advantages.to(next(self.model.parameters()).device)
        old_logp = self.fixed_logprobs(self.model, prompt_ids, completion_ids) if cfg.mu > 1 else None
        ref_logp = None
        if self.reference is not None:
            ref_logp = self.fixed_logprobs(self.reference, prompt_ids, completion_ids)
        for _ in range(cfg.mu):
            loss, stats = self.policy_loss(prompt_ids, completion_ids, advantages, old_logp, ref_logp)
            self.optimizer_step(loss)
        self.model.eval()
        return loss, stats

    @torch.no_grad()
    def fixed_logprobs(self, model, prompt_ids, completion_ids):
        """Per-token log-probs that take no gradient: the sampling policy's (mu > 1) or the
        reference's (beta != 0)."""
        logp, _, _ = completion_logprobs(model, prompt_ids, completion_ids, self.tokenizer.pad_id,
                                         temperature=self.config.temperature)
        return logp

    @timed("logprob_seconds")
    def policy_loss(self, prompt_ids, completion_ids, advantages, old_logp, ref_logp):
        """The clipped objective (grpo_loss.py) on the policy's log-probs now: (loss, its KL
        and clip fraction, and the policy's mean entropy on the completions)."""
        cfg = self.config
        logp, mask, entropy = completion_logprobs(self.model, prompt_ids, completion_ids,
                                                  self.tokenizer.pad_id, with_entropy=True,
                                                  temperature=cfg.temperature)
        old = logp.detach() if old_logp is None else old_logp
        loss, stats = grpo_loss(logp, old, advantages, mask, eps_low=cfg.eps_low,
                                eps_high=cfg.eps_high, beta=cfg.beta, ref_logp=ref_logp,
                                loss_type=cfg.loss_type, max_completion_length=cfg.max_new_tokens + 1)
        entropy = float((entropy.detach() * mask).sum() / mask.sum().clamp(min=1))
        return loss, {**stats, "entropy": entropy}

    @timed("backward_seconds")
    def optimizer_step(self, loss) -> None:
        """Backpropagate and take one optimizer step, the gradient clipped to norm 1. A loss or
        weights that are not finite stop the run (NonFiniteError, naming the step)."""
        check_finite(f"step {self.step}", loss=loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        check_finite(f"step {self.step}", model=self.model)

    # ------------------------------------------------------------ the log: bookkeeping
    def train_step(self) -> dict:
        """One `grpo_step`, logged: its record (appended to `history`, and returned) holds the
        step number and stats, the `text_stats` of its completions, the tokens it spent
        (chapter 3 turns them into FLOPs) and where its time went (benchmarks/speed.py)."""
        self.phase_seconds = dict.fromkeys(TIMED, 0.0)
        start = time.perf_counter()
        _, stats = self.grpo_step()
        record = {"step": self.step, **stats}
        for text_stats in self.text_stats:
            record.update(text_stats(self.last_batch.texts))
        record.update(self.tokens_spent(self.last_batch))
        record.update(self.phase_seconds, seconds=time.perf_counter() - start)
        self.history.append(record)
        self.step += 1
        return record

    def tokens_spent(self, batch: StepBatch) -> dict:
        """What one step processed: every rollout's prompt and generated tokens, and the kept
        rows' tokens in the update's passes (trained: mu passes with a gradient; scored: the
        forwards without one, for mu > 1 and for the reference)."""
        cfg = self.config
        kept = sum(len(batch.prompt_ids[i]) + len(batch.completion_ids[i]) for i in batch.kept)
        return {"prompt_tokens": sum(map(len, batch.prompt_ids)),
                "generated_tokens": sum(map(len, batch.completion_ids)),
                "trained_tokens": kept * cfg.mu,
                "scored_tokens": kept * ((cfg.mu > 1) + (self.reference is not None))}

    # ------------------------------------------------------------ resume
    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this run stopped."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": self.rng.getstate(), "generator": self.generator.get_state(),
                "step": self.step, "history": list(self.history),
                "reference": None if self.reference is None else self.reference.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.setstate(state["rng"])
        self.generator.set_state(state["generator"])
        self.step, self.history = state["step"], list(state["history"])
        if self.reference is not None and state["reference"] is not None:
            self.reference.load_state_dict(state["reference"])

    def save(self, path) -> None:
        """Atomic save (a crash never leaves a half-written file)."""
        atomic_save(self.state_dict(), path)

    def resume(self, path) -> None:
        # weights_only: a state file is data (tensors, numbers, the RNG's tuple); no code runs.
        self.load_state_dict(load_state(path))

    def spent(self) -> dict:
        """What the run spent so far, summed over its steps (see chapter 1's `spent`)."""
        keys = ("prompt_tokens", "generated_tokens", "trained_tokens", "scored_tokens")
        return spent(sum(p.numel() for p in self.model.parameters()),
                     **{k: sum(h.get(k, 0) for h in self.history) for k in keys})

    def train(self, steps: int | None = None, progress: bool = True, desc: str = "GRPO",
              callback=None) -> list[dict]:
        steps = self.config.steps if steps is None else steps
        bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False,
                   mininterval=PROGRESS_SECONDS)
        for _ in bar:
            try:
                s = self.train_step()
            except (RewardError, NonFiniteError) as err:   # say which run it was
                raise type(err)(f"{desc}: {err}") from None
            bar.set_postfix(acc=f"{s['accuracy']:.2f}", len=f"{s['mean_response_tokens']:.0f}",
                            refresh=False)
            if callback is not None:
                callback(self, s)
        return self.history
