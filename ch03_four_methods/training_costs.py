"""What each model of chapter 2 cost to train, in FLOPs (compute.py's 6N / 2N per token).

Every stage is charged its own work, and a model's total is its own work plus that of every
stage it depends on, each counted once (R1 needs the base, the cold start, the reasoning RL that
wrote its SFT data, the SFT and the final RL; the distilled student needs the same data, so the
teacher's cost is part of its bill). The dependencies come from chapter 2's recipe table.

Each trainer records what it spent (chapter 1's `spent`): the tokens it read as prompts and
generated (a forward pass each: 2N per token, with the KV cache), the tokens it trained on (a
forward and a backward pass: 6N, once per update pass) and the tokens it scored without
gradients (2N: GRPO's old log-probs when mu > 1, the reference model when beta > 0), and the
parameter count N of the model that did the work (the teacher, for rejection sampling). So
this file knows no stage kind: a new trainer that records its spending is counted correctly.
"""

from __future__ import annotations

from .compute import inference_flops, training_flops


def spent_flops(spent: dict) -> float:
    """FLOPs of one run from what it recorded."""
    n = spent["params"]
    forward = spent["prompt_tokens"] + spent["generated_tokens"] + spent["scored_tokens"]
    return inference_flops(n, forward) + training_flops(n, spent["trained_tokens"])


def spent_tokens(spent: dict) -> int:
    """The tokens the run pushed through a model: prompts and generated tokens (once each)
    plus the tokens it trained on (once per update pass; GRPO trains on its own rollouts,
    so those count again, as they cost again)."""
    return spent["prompt_tokens"] + spent["generated_tokens"] + spent["trained_tokens"]


def own_flops(pipeline, stage: str) -> float:
    """The FLOPs of one stage alone."""
    return spent_flops(pipeline.run(stage)["spent"])


def ancestors(pipeline, stage: str) -> set[str]:
    """Every stage `stage` depends on, directly or not (from the recipe table)."""
    found = set()
    for parent in pipeline.stage(stage).inputs:
        found |= {parent} | ancestors(pipeline, parent)
    return found


def training_costs(pipeline, stages=None) -> dict[str, dict]:
    """{stage: {"own": FLOPs of the stage, "total": with everything it depends on}}."""
    own = {s: own_flops(pipeline, s) for s in pipeline.stages}
    return {s: {"own": own[s], "total": own[s] + sum(own[a] for a in ancestors(pipeline, s))}
            for s in (pipeline.stages if stages is None else stages)}
