"""What each model of chapter 2 cost to train, in FLOPs (compute.py's 6N / 2N per token).

Every stage is charged its own work, and a model's total is its own work plus that of every
stage it depends on, each counted once (R1 needs the base, the cold start, the reasoning RL that
wrote its SFT data, the SFT and the final RL; the distilled student needs the same data, so the
teacher's cost is part of its bill). How each kind of stage is counted:

- pretraining and SFT: 6 * N * the batch tokens chapter 1's training loop recorded (for SFT that
  includes padding inside a batch: a small overcount);
- GRPO, per step: the rollouts are generated (2N per prompt and completion token) and the
  completions that are kept for the update go through a forward and a backward pass (6N). The
  prompts are redrawn from the trainer's seed, so their lengths are exact; the completion
  length is the mean the trainer logged for that step. mu = 1 and beta = 0 (chapter 2's
  settings) add no extra passes; other settings would, and are counted when set;
- rejection sampling: the teacher generates every sample (2N per token), at the mean length of
  the teacher's answers on the test set.
"""

from __future__ import annotations

import random

from ch02_r1_pipeline.tasks import rl_prompts

from .compute import inference_flops, training_flops

# stage -> the stages whose output it needs (its own inputs, not theirs).
DEPENDS_ON = {
    "base": (), "student_base": (),
    "r1_zero": ("base",), "r1_zero_consistency": ("base",),
    "cold_start": ("base",), "r1_reasoning_rl": ("cold_start",),
    "rejection_sampling": ("r1_reasoning_rl",),
    "r1_sft": ("base", "rejection_sampling"), "r1": ("r1_sft",),
    "distill": ("student_base", "rejection_sampling"), "student_rl": ("student_base",),
}
GRPO_STAGES = ("r1_zero", "r1_zero_consistency", "r1_reasoning_rl", "r1", "student_rl")
TEACHER = "r1_reasoning_rl"   # wrote the rejection-sampling data


def grpo_rollout_tokens(info: dict, tokenizer, sample_prompts=rl_prompts) -> list[float]:
    """Prompt + completion tokens of every step's rollouts (the prompts replayed from the
    trainer's seed, the completion length as logged)."""
    cfg = info["config"]
    rng = random.Random(cfg["seed"])   # the trainer's own prompt stream, replayed
    rollouts = cfg["prompts_per_step"] * cfg["group_size"]
    out = []
    for step in info["history"]:
        prompts = sample_prompts(rng, cfg["prompts_per_step"])
        prompt_tokens = sum(len(tokenizer.encode(p, bos=True)) for p, _ in prompts) / len(prompts)
        out.append(rollouts * (prompt_tokens + step["mean_response_tokens"]))
    return out


def grpo_flops(n_params: int, info: dict, tokenizer, sample_prompts=rl_prompts) -> float:
    """FLOPs of one GRPO run from its logged history and config (see the module docstring)."""
    cfg = info["config"]
    passes = 6 * cfg["mu"] + 2 * (cfg["mu"] > 1) + 2 * (cfg["beta"] != 0)
    total = 0.0
    for step, tokens in zip(info["history"], grpo_rollout_tokens(info, tokenizer, sample_prompts)):
        total += inference_flops(n_params, tokens)
        total += passes / 2 * inference_flops(n_params, tokens * step["kept_fraction"])
    return total


def rejection_sampling_flops(n_params: int, info: dict, teacher_info: dict, tokenizer) -> float:
    prompts = rl_prompts(random.Random("rejection-sampling"), 200)   # their typical length
    prompt_tokens = sum(len(tokenizer.encode(p, bos=True)) for p, _ in prompts) / len(prompts)
    response = teacher_info["eval"]["mean_response_tokens"]
    return inference_flops(n_params, info["sampled"] * (prompt_tokens + response))


def own_flops(pipeline, stage: str) -> float:
    """The FLOPs of one stage alone."""
    info = pipeline.run(stage)
    if stage == "rejection_sampling":
        n = pipeline.model(TEACHER).num_params()
        return rejection_sampling_flops(n, info, pipeline.run(TEACHER), pipeline.tokenizer)
    n = pipeline.model(stage).num_params()
    if stage in GRPO_STAGES:
        return grpo_flops(n, info, pipeline.tokenizer)
    return training_flops(n, info["tokens"])


def ancestors(stage: str) -> set[str]:
    """Every stage `stage` depends on, directly or not."""
    found = set()
    for parent in DEPENDS_ON[stage]:
        found |= {parent} | ancestors(parent)
    return found


def training_costs(pipeline, stages=tuple(DEPENDS_ON)) -> dict[str, dict]:
    """{stage: {"own": FLOPs of the stage, "total": with everything it depends on}}."""
    own = {s: own_flops(pipeline, s) for s in DEPENDS_ON}
    return {s: {"own": own[s], "total": own[s] + sum(own[a] for a in ancestors(s))}
            for s in stages}
