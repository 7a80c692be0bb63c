"""Chapter 2's exercises: four checkers ("build it") and three short GRPO experiments.

Build it (each checker runs the student's function against the course's own on edge cases
first, then random ones from a fixed seed; see course/exercises.py for `check`):

- 2.1 `check_format_reward`: R1-Zero's format reward (rewards.format_reward)
- 2.2 `check_consistency_reward`: R1's language-consistency reward (rewards.consistency_reward)
- 2.3 `check_group_advantages`: GRPO's group-relative advantages (grpo_loss.group_advantages)
- 2.4 `check_grpo_loss`: the clipped GRPO loss and its three token averages (grpo_loss.grpo_loss),
  compared on the value and on the gradient it sends back to the log-probabilities
- 2.8 `check_sft_loss`: SFT's completion-only loss (as chapter 1's `train` takes it), on its
  value and its gradient
- 2.9 `check_rejection_filter`: what rejection sampling keeps (sft.keep_for_sft)
- 2.10 `check_grpo_step`: one whole GRPO update from a step's rollouts (the trainer's), on the
  loss, every parameter's gradient and the parameters after the step

Experiments (each a short R1-Zero run from a copy of the cached base model, in memory only:
nothing is written to runs/, so the chapter's checkpoints are never touched):

- 2.5 `group_size_experiment`: G completions per prompt, against the chapter's G = 8
- 2.6 `kl_experiment`: the KL penalty beta > 0, against the chapter's beta = 0
- 2.7 `consistency_experiment`: the consistency reward added to R1-Zero's two rewards

The baseline of all three is the chapter's own R1-Zero settings, shortened; it runs once per
session and is shared. `plot_experiment` draws a result.
"""

from __future__ import annotations

import copy
import json
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ch01_what_is_reasoning.model import GPT
from ch01_what_is_reasoning.sampling import generate
from course.cache import load_cached, plain
from course.exercises import (  # ready, ... are re-exported for the notebooks
    Verdict,
    _show,
    check,
    compare_prediction,
    direction,
    ready,
    same,
)
from course.overrides import override

from .grpo import GRPOConfig, GRPOTrainer, completion_logprobs
from .grpo_loss import group_advantages, grpo_loss, k3_kl
from .plots import _smooth, plt
from .rewards import consistency_reward, format_reward
from .sft import keep_for_sft
from .tasks import evaluate, rl_prompts

__all__ = ["check_format_reward", "check_consistency_reward", "check_group_advantages",
           "check_grpo_loss", "check_sft_loss", "check_rejection_filter", "check_grpo_step",
           "ShortRun", "ExperimentResult", "short_r1_zero",
           "group_size_experiment", "kl_experiment", "consistency_experiment", "plot_experiment",
           "kl_to_base", "ready", "compare_prediction", "direction", "Verdict"]


# ------------------------------------------------------------------ 2.1: the format reward

def _as_the_trainer_calls(reward: Callable) -> Callable:
    """`reward` called exactly as the trainer calls a reward (grpo.call_reward, like TRL):
    reward(completions, prompts=..., answer=...), all three tuples. A reward without **kwargs,
    or one that edits its inputs, fails here rather than inside the trainer."""
    def call(completions, prompts, answers):
        try:
            return reward(tuple(completions), prompts=tuple(prompts), answer=tuple(answers))
        except (TypeError, AttributeError) as error:
            text = str(error)
            if "argument" in text:       # "got an unexpected keyword argument 'answer'"
                hint = ("the trainer calls every reward as reward(completions, prompts=..., "
                        "answer=...): end the signature with **kwargs")
            elif "tuple" in text:        # "'tuple' object has no attribute 'append'"
                hint = ("the trainer passes tuples: build a new list rather than changing "
                        "the inputs")
            else:
                raise
            try:
                clearer = type(error)(f"{text} ({hint})")
            except Exception:
                raise error from None
            raise clearer from error
    return call


def _with_prompts(completions: list, rng: random.Random) -> tuple:
    """(completions, prompts, answers) as the trainer passes them: tuples, one each."""
    pairs = rl_prompts(rng, len(completions))
    return tuple(completions), tuple(p for p, _ in pairs), tuple(a for _, a in pairs)


# 2.1's edge cases, one completion each (the random batches follow them)
_FORMAT_EDGE_CASES = [
    "<think>3+4=7</think><answer>7</answer>",               # the template
    "<think></think><answer>7</answer>",                    # an empty thinking block is fine
    "<answer>7</answer>",                                   # no thinking block
    "<think>a</think> <answer> 42 </answer>",               # whitespace between and inside
    "  <think>a</think>\n<answer>42</answer>\n",            # whitespace around
    "<think>a</think><answer>42</answer> extra",            # text after the answer
    "so <think>a</think><answer>42</answer>",               # text before the thinking
    "<think>a</think>x<answer>42</answer>",                 # text between the blocks
    "<think>a</think><answer>-5</answer>",                  # not a digit string
    "<think>a</think><answer>3.5</answer>",
    "<think>a</think><answer></answer>",                    # an empty answer
    "<think>a</think><answer>۱۲</answer>",                  # Persian digits
    "<think>a</think><answer>1۲</answer>",                  # both scripts: still digits
    "<think>a</think><answer>123456789012</answer>",        # 12 digits: the longest answer
    "<think>a</think><answer>1234567890123</answer>",       # 13 digits: too long
    "<think>a</think><answer>٣</answer>",                   # Arabic-Indic 3 (isdigit() says yes)
    "<think>a</think><answer>1 2</answer>",
    "<think>a<think>b</think><answer>1</answer>",           # a tag twice
    "<think>a</think><answer>1</answer><answer>2</answer>",
    "<think>a</think><answer>1</answer></think>",
    "<answer>1</answer><think>a</think>",                   # wrong order
    "<think>a</think><answer>1",                            # not closed
    "<think>a<answer>1</answer>",
    "",
    "<think>a</think><answer>00</answer>",
    # newlines and other whitespace (whatever str.strip() removes) inside and around the tags
    "<think>3+4\n= 7</think><answer>7</answer>",             # a thinking of several lines
    "<think>a</think>\t<answer>7</answer>",
    "\r\n<think>a</think>\r\n<answer>7</answer>\r\n",
    "<think>a</think><answer>\n7\n</answer>",
    "\u3000<think>a</think><answer>\t7\u3000</answer>",
    "<think>a</think><answer> 123456789012 </answer>",      # 12 digits once stripped
    "<think>a</think><answer>۱۲۳۴۵۶۷۸۹۰۱۲</answer>",        # 12 Persian digits
    "<think>a</think><answer>１２</answer>",                  # full-width digits: not ours
    "<think>a</think><answer>+7</answer>",                  # int() takes these three
    "<think>a</think><answer>1_000</answer>",
    "<think><answer>1</answer></think>",                    # nested
    "<Think>a</Think><Answer>7</Answer>",                   # tags are matched exactly
    "<think>a</think><answer>7</answer><think>b</think>",   # a second thinking block after
]


def _format_cases(seed: int = 0) -> list:
    """(completions, prompts, answers): one edge case per batch first, then random batches of 1-4."""
    rng = random.Random(seed)
    cases = [_with_prompts([text], rng) for text in _FORMAT_EDGE_CASES]
    for _ in range(27):
        batch = []
        for _ in range(rng.randint(1, 4)):
            think = "".join(rng.choice("0123456789+-*=() ۱۲\n") for _ in range(rng.randint(0, 12)))
            head = rng.choice(["", "", " ", "\n", "x", "<think>", "\t"])
            gap = rng.choice(["", "", " ", "\n", "x", "</think>", "\r\n"])
            value = rng.choice([str(rng.randint(0, 999)), "۴۲", "", "-1", "7 ", " 7", "a", "\n7\t"])
            tail = rng.choice(["", "", " ", "\n", "x", "</answer>", "<answer>"])
            body = rng.choice([f"<think>{think}</think>{gap}<answer>{value}</answer>",
                               f"<think>{think}</think>{gap}<answer>{value}</answer>",
                               f"<answer>{value}</answer>", f"<think>{think}{gap}<answer>{value}"])
            batch.append(head + body + tail)
        cases.append(_with_prompts(batch, rng))
    return cases


def _show_reward_case(case) -> str:
    return f"completions={case[0]!r},\n            prompts={case[1]!r}, answer={case[2]!r}"


def check_format_reward(student: Callable) -> Verdict:
    """Exercise 2.1: `student(completions, **kwargs)` -> one float per completion, 1.0 for exactly
    <think>...</think><answer>NUMBER</answer> (see the exercise's rules), else 0.0. Called as the
    trainer calls it: student(completions, prompts=..., answer=...), with tuples."""
    return check("2.1", _as_the_trainer_calls(student), _as_the_trainer_calls(format_reward),
                 _format_cases(), show_case=_show_reward_case)


# ------------------------------------------------------------------ 2.2: the consistency reward

_LATIN, _PERSIAN = "(3+4)*2?", "(۳+۴)*۲?"
# 2.2's edge cases: (completion, prompt) (the random ones follow them)
_CONSISTENCY_EDGE_CASES = [
    ("<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>", _LATIN),     # all in the prompt's script
    ("<think>(۳+۴)*۲ = ۷*۲ = ۱۴</think><answer>۱۴</answer>", _PERSIAN),
    ("<think>(۳+۴)*۲ = 7*2 = ۱۴</think><answer>۱۴</answer>", _PERSIAN),   # mixed: a share
    ("<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>", _PERSIAN),   # all in the other script
    ("<think>(3+4)*2 = 14</think><answer>14</answer>", "what is x?"),    # a prompt without digits
    ("<think>1</think><answer>1</answer>", ""),
    ("<answer>14</answer>", _LATIN),                                      # no thinking block
    ("<think>hmm</think><answer>14</answer>", _LATIN),                    # thinking without digits
    ("<think></think><answer>14</answer>", _PERSIAN),
    ("<think>1+2 = 3</think><answer>3</answer>", "1+۲?"),                # a tie: Latin
    ("<think>۱+۲ = ۳</think><answer>۳</answer>", "1+۲?"),
    ("<think>۱+۲*3 = ۷</think><answer>۷</answer>", "۱+۲*3?"),            # majority Persian
    ("<think>(۳+۴)*۲ = ۱۴</think><answer>14</answer>", _PERSIAN),          # the answer does not count
    ("before 1234 <think>۱۲</think><answer>12</answer>", _PERSIAN),       # nor text before the block
    ("<think>۱</think><think>1</think><answer>1</answer>", _PERSIAN),      # only the first block
    ("<think>(3+4)*2 = 14", _LATIN),                                      # a block never closed
    ("</think>14<think>", _LATIN),
    # the prompt's script is its majority, wherever its first digit is
    ("<think>۱+۲*۳ = ۷</think><answer>۷</answer>", "1+۲*۳?"),
    # tags in unusual orders: the first </think> AFTER the first <think>
    ("</think>1<think>۱۲</think><answer>۱۲</answer>", _PERSIAN),
    ("<think>۱<think>2</think><answer>2</answer>", _PERSIAN),            # nested: "۱<think>2"
    ("<answer>۱۲</answer><think>12</think>", _PERSIAN),
    # newlines inside the thinking and around it
    ("<think>(۳+۴)*۲\n= ۷*۲\n= ۱۴</think>\n<answer>۱۴</answer>", _PERSIAN),
    ("<think>\n1+2\n</think>", _LATIN),
    # only 0-9 and ۰-۹ are digits: Arabic-Indic and superscript ones are not counted
    ("<think>۱٣1</think><answer>1</answer>", _PERSIAN),
    ("<think>12²</think><answer>1</answer>", _LATIN),
    ("<think>12</think><answer>12</answer>", "٣+٤?"),                   # no digit of either script
    ("<think>١٢ ۱۲</think><answer>۱۲</answer>", "1+۲*۳?"),
]


def _consistency_cases(seed: int = 0) -> list:
    """(completions, prompts, answers): edge cases first, then random ones."""
    rng = random.Random(seed)
    cases = []
    for completion, prompt in _CONSISTENCY_EDGE_CASES:
        answer = rl_prompts(rng, 1)[0][1]
        cases.append(((completion,), (prompt,), (answer,)))
    for _ in range(30):
        completions, prompts, answers = [], [], []
        for prompt, answer in rl_prompts(rng, rng.randint(1, 4)):
            digits = rng.choice(["0123456789", "۰۱۲۳۴۵۶۷۸۹", "0123456789۰۱۲۳۴۵۶۷۸۹", "0۱"])
            think = "".join(rng.choice(digits + "+-*=() \n") for _ in range(rng.randint(0, 16)))
            completions.append(rng.choice([f"<think>{think}</think><answer>{rng.randint(0, 99)}</answer>",
                                           f"<think>{think}</think>", f"<answer>{think}</answer>"]))
            prompts.append(rng.choice([prompt, prompt, "no digits?"]))
            answers.append(answer)
        cases.append((tuple(completions), tuple(prompts), tuple(answers)))
    return cases


def check_consistency_reward(student: Callable) -> Verdict:
    """Exercise 2.2: `student(completions, prompts, **kwargs)` -> the share of each thinking
    block's digits written in its prompt's digit script (see the exercise's rules). Called as
    the trainer calls it: student(completions, prompts=..., answer=...), with tuples."""
    return check("2.2", _as_the_trainer_calls(student), _as_the_trainer_calls(consistency_reward),
                 _consistency_cases(), show_case=_show_reward_case)


# ------------------------------------------------------------------ 2.3: group advantages

def _advantage_cases(seed: int = 0) -> list:
    fixed = [
        [[1.1, 1.1, 0.1, 0.0], [1.1, 1.1, 1.1, 1.1]],   # the chapter's example: an all-equal group
        [[1.0, 0.0]],                                   # G = 2: sample or population std?
        [[0.0, 0.1]],                                   # a small std: where does eps go?
        [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]],   # square: rows, not columns
        [[0.0, 0.0, 0.0, 1.0], [10.0, 20.0, 30.0, 40.0]],      # groups on different scales
        [[0.5, 0.5, 0.5]],
    ]
    cases = [(torch.tensor(r),) for r in fixed]
    gen = torch.Generator().manual_seed(seed)
    for i in range(30):
        n = int(torch.randint(1, 7, (1,), generator=gen))
        g = int(torch.randint(2, 17, (1,), generator=gen))
        if i % 2 == 0:   # rule rewards: accuracy + 0.1 x format
            levels = torch.tensor([0.0, 0.1, 1.0, 1.1])
            rewards = levels[torch.randint(0, 4, (n, g), generator=gen)]
        else:
            rewards = torch.randn(n, g, generator=gen) * 2 + 1
        cases.append((rewards,))
    return cases


def check_group_advantages(student: Callable) -> Verdict:
    """Exercise 2.3: `student(rewards)` with rewards (n_prompts, G) -> advantages, same shape:
    (r - the group's mean) / (the group's sample std + 1e-4)."""
    return check("2.3", student, lambda rewards: group_advantages(rewards), _advantage_cases(),
                 show_case=lambda case: f"rewards={_show(case[0], 300)}")


# ------------------------------------------------------------------ 2.4: the GRPO loss

def _loss_cases(seed: int = 0) -> list:
    """(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type)."""
    # ratios exp(logp - old_logp): 1.5 (above 1 + eps_high), 0.6 (below 1 - eps_low), 1.1, 1.0
    d = torch.tensor([[0.405465, -0.510826, 0.0953102, 0.0],
                      [0.405465, -0.510826, 0.0953102, 0.0]])
    old = torch.tensor([[-1.0, -2.0, -0.5, -3.0], [-0.2, -1.5, -2.5, -0.7]])
    full, padded = torch.ones(2, 4), torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    cases = []
    for adv in ([1.0, 1.0], [-1.0, -1.0], [2.0, -0.5]):
        cases.append((old + d, old, torch.tensor(adv), full, 0.2, 0.28, "dapo"))
    for loss_type in ("dapo", "grpo", "dr_grpo"):
        cases.append((old + d, old, torch.tensor([1.5, -1.0]), padded, 0.2, 0.28, loss_type))
    empty_row = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])   # a row with no tokens
    for loss_type in ("grpo", "dapo", "dr_grpo"):
        cases.append((old + d, old, torch.tensor([1.0, 3.0]), empty_row, 0.2, 0.28, loss_type))
    cases.append((old, old.clone(), torch.tensor([0.7, -0.3]), padded, 0.2, 0.28, "grpo"))  # mu = 1
    nothing = torch.zeros(2, 4)   # all padding: no real token at all, the loss is 0 (not 0 / 0)
    for loss_type in ("dapo", "grpo", "dr_grpo"):
        cases.append((old + d, old, torch.tensor([1.0, -2.0]), nothing, 0.2, 0.28, loss_type))
    # unlikely tokens: log-probabilities near -120, whose probabilities underflow float32 to 0
    # (the ratio is exp(logp - old_logp), never exp(logp) / exp(old_logp))
    far = torch.tensor([[-120.0, -110.5, -130.25, -101.0], [-140.0, -125.0, -115.5, -105.0]])
    for loss_type in ("dapo", "grpo"):
        cases.append((far + d, far, torch.tensor([1.5, -0.5]), padded, 0.2, 0.28, loss_type))
    gen = torch.Generator().manual_seed(seed)
    for i in range(25):
        n = int(torch.randint(1, 7, (1,), generator=gen))
        t = int(torch.randint(1, 9, (1,), generator=gen))
        old_logp = -torch.rand(n, t, generator=gen) * 3
        logp = old_logp + torch.randn(n, t, generator=gen) * 0.3
        advantages = torch.randn(n, generator=gen)
        lengths = torch.randint(1, t + 1, (n,), generator=gen)
        mask = (torch.arange(t)[None, :] < lengths[:, None]).float()
        eps_low, eps_high = [(0.2, 0.28), (0.2, 0.2), (0.1, 0.3)][i % 3]
        loss_type = ("grpo", "dapo", "dr_grpo")[(i // 3) % 3]
        cases.append((logp, old_logp, advantages, mask, eps_low, eps_high, loss_type))
    return cases


def _value_and_gradient(loss_fn: Callable, of: str) -> Callable:
    """Call a loss function, then return its value and d loss / d (its first argument, named
    `of`), labelled: the gradient is what training uses, so a loss that is right in value but
    cut from the graph is wrong."""
    def run(first, *rest):
        # the checker's own copy, made a leaf that records its gradient (an in-place change to it
        # fails here, as it would on the model's output in training)
        first = first.detach().requires_grad_(True)
        loss = loss_fn(first, *rest)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise TypeError(f"the loss must be a 0-dim tensor (one number), got {_show(loss, 120)}")
        if not loss.requires_grad:
            raise TypeError(f"the loss does not depend on {of} any more: keep the graph (no "
                            f".item(), .detach(), torch.no_grad() or Python floats on the way)")
        loss.backward()
        grad = first.grad if first.grad is not None else torch.zeros_like(first)
        return {"loss (value)": loss.detach(), f"gradient of the loss wrt {of}": grad}
    run.__wrapped__ = loss_fn   # a message names the arguments as loss_fn does
    return run


def _same_parts(expected: dict, got: dict) -> bool:
    """Every labelled part equal (the verdict then shows which part differs, by its label)."""
    return all(same(expected[k], got[k]) for k in expected)


def _show_loss_case(case) -> str:
    names = ("logp", "old_logp", "advantages", "mask")
    tensors = ", ".join(f"{n}={_show(v, 260)}" for n, v in zip(names, case[:4]))
    return f"{tensors}\n  eps_low={case[4]}, eps_high={case[5]}, loss_type={case[6]!r}"


def check_grpo_loss(student: Callable) -> Verdict:
    """Exercise 2.4: `student(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type)`
    -> the GRPO loss (a 0-dim tensor), compared as (value, gradient with respect to logp)."""
    def reference(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type):
        return grpo_loss(logp, old_logp, advantages, mask, eps_low=eps_low, eps_high=eps_high,
                         loss_type=loss_type)[0]

    return check("2.4", _value_and_gradient(student, "logp"),
                 _value_and_gradient(reference, "logp"), _loss_cases(), compare=_same_parts,
                 show_case=_show_loss_case)


# ------------------------------------------------------------------ the experiments

# Sizes per preset: steps of GRPO per run, held-out problems scored greedily every
# `eval_every` steps (and the KL to the base measured on `kl_samples` samples of each).
EXPERIMENT_SIZES = {
    "tiny": {"steps": 2, "eval_problems": 6, "eval_every": 1, "kl_samples": 1},
    "cpu": {"steps": 30, "eval_problems": 60, "eval_every": 5, "kl_samples": 2},
    "gpu": {"steps": 30, "eval_problems": 60, "eval_every": 5, "kl_samples": 2},
}
_RUNS: dict = {}    # finished runs of this session, by their settings (the baseline runs once)


@dataclass
class ShortRun:
    """One short GRPO run: the trainer's per-step logs (its own samples at temperature 1) and
    the points measured every few steps (greedy held-out accuracy, length, KL to the base)."""

    label: str
    config: GRPOConfig
    history: list = field(default_factory=list)
    points: list = field(default_factory=list)
    seconds: float = 0.0

    def logged(self, key: str) -> list:
        """One value per GRPO step, from the trainer's logs ('reward', 'accuracy', ...)."""
        return [h[key] for h in self.history]

    def measured(self, key: str) -> list:
        """One value per measuring point ('step', 'accuracy', 'mean_response_tokens', 'kl')."""
        return [p[key] for p in self.points]


@dataclass
class ExperimentResult:
    exercise: str
    runs: dict            # label -> ShortRun: the baseline first, then the changed run
    metric: str           # what was compared, in words
    before: float         # the metric for the baseline
    after: float          # the metric for the changed run
    tolerance: float
    measured: str         # 'higher', 'lower' or 'about the same' (after vs before)
    panel: str            # which curve plot_experiment draws third

    def __str__(self) -> str:
        (base_label, base_run), (label, run) = self.runs.items()
        return (f"Exercise {self.exercise}: {self.metric}\n"
                f"  {base_label:<24} {self.before:.3f}   ({len(base_run.history)} steps, "
                f"{_rollouts(base_run)} rollouts, {base_run.seconds:.0f} s)\n"
                f"  {label:<24} {self.after:.3f}   ({len(run.history)} steps, "
                f"{_rollouts(run)} rollouts, {run.seconds:.0f} s)\n"
                f"  -> {self.measured} (a change within ±{self.tolerance:g} counts as about the same)")

    __repr__ = __str__


def _rollouts(run: ShortRun) -> int:
    return run.config.prompts_per_step * run.config.group_size * len(run.history)


def _base_model(pipeline):
    """The base model, loaded read-only from runs/ (trained, as chapter 1 does, only if missing)."""
    model, _ = load_cached(pipeline.path("base"), pipeline.stage_recipe("base"), pipeline.device,
                           "base", pipeline.tokenizer.vocab_size, model_class=GPT)
    return (model if model is not None else pipeline.model("base")).eval()


@torch.no_grad()
def kl_to_base(model, base, tokenizer, prompts: list[str], samples: int = 2,
               max_new_tokens: int = 110, temperature: float = 1.0, seed: int = 0) -> float:
    """How far `model` has moved from `base`: KL(model || base) per response, estimated on
    `samples` answers of `model` to each prompt (the k3 estimator of grpo_loss, summed over
    each answer's tokens, averaged over answers). 0 for the base itself."""
    ids = [tokenizer.encode(p, bos=True) for p in prompts for _ in range(samples)]
    out = generate(model, ids, max_new_tokens=max_new_tokens, eos_id=tokenizer.eos_id,
                   pad_id=tokenizer.pad_id, temperature=temperature,
                   generator=torch.Generator().manual_seed(seed))
    completions = [t + [tokenizer.eos_id] if f else t for t, f in zip(out.tokens, out.finished)]
    logp, mask, _ = completion_logprobs(model, ids, completions, tokenizer.pad_id,
                                        temperature=temperature)
    ref_logp, _, _ = completion_logprobs(base, ids, completions, tokenizer.pad_id,
                                         temperature=temperature)
    return float((k3_kl(logp, ref_logp) * mask).sum(1).mean())


def short_r1_zero(pipeline, changes: dict | None = None, *, label: str | None = None,
                  progress: bool = True, **sizes) -> ShortRun:
    """A short R1-Zero run: GRPO from a copy of the base with the r1_zero stage's settings,
    `changes` applied ({"group_size": 2}, {"beta": 0.5}, {"reward_weights.consistency": 2.0}),
    for EXPERIMENT_SIZES[preset]["steps"] steps (or `steps=`). In memory only: nothing is
    saved. A run with the same settings is computed once per session."""
    sizes = {**EXPERIMENT_SIZES.get(pipeline.preset.name, EXPERIMENT_SIZES["cpu"]), **sizes}
    config = override(pipeline.stage("r1_zero").settings, {"steps": sizes["steps"], **(changes or {})})
    label = label or ", ".join(f"{k}={v}" for k, v in (changes or {}).items()) or "baseline"
    key = (id(pipeline), json.dumps(plain(config), sort_keys=True), json.dumps(sizes, sort_keys=True))
    if key in _RUNS:
        return _relabelled(_RUNS[key], label)
    base = _base_model(pipeline)
    tok = pipeline.tokenizer
    problems = pipeline.test[:: max(1, len(pipeline.test) // sizes["eval_problems"])]
    problems = problems[: sizes["eval_problems"]]
    prompts = [p.prompt() for p in problems]
    trainer = GRPOTrainer(copy.deepcopy(base).train(), tok, rl_prompts, config)
    run = ShortRun(label, config)
    start = time.perf_counter()

    def measure(trainer):
        model = trainer.model.eval()
        point = {"step": trainer.step, **evaluate(model, tok, problems)}
        point["kl"] = kl_to_base(model, base, tok, prompts, sizes["kl_samples"],
                                 config.max_new_tokens, config.temperature)
        run.points.append(point)

    def after_step(trainer, stats):
        if trainer.step % sizes["eval_every"] == 0 or trainer.step == config.steps:
            measure(trainer)

    measure(trainer)
    trainer.train(config.steps, progress=progress, desc=label, callback=after_step)
    run.history, run.seconds = trainer.history, time.perf_counter() - start
    _RUNS[key] = run
    return run


def _relabelled(run: ShortRun, label: str) -> ShortRun:
    return ShortRun(label, run.config, run.history, run.points, run.seconds)


def _checked(pipeline, changes: dict) -> dict:
    """`changes` once they are known to be valid settings: a wrong one fails here, by name,
    before the baseline spends any time."""
    override(pipeline.stage("r1_zero").settings, changes)
    return changes


def _experiment(exercise, pipeline, changes, label, metric, value, tolerance, panel, progress):
    baseline = short_r1_zero(pipeline, label=_baseline_label(pipeline), progress=progress)
    changed = short_r1_zero(pipeline, changes, label=label, progress=progress)
    before, after = value(baseline), value(changed)
    return ExperimentResult(exercise, {baseline.label: baseline, changed.label: changed}, metric,
                            before, after, tolerance, direction(before, after, tolerance), panel)


def _baseline_label(pipeline) -> str:
    cfg = pipeline.stage("r1_zero").settings
    return f"R1-Zero (G={cfg.group_size}, beta={cfg.beta:g})"


def _after_step_0(run: ShortRun, key: str) -> float:
    values = [p[key] for p in run.points if p["step"] > 0]
    return sum(values) / max(1, len(values))


def _last_third(run: ShortRun, key: str) -> float:
    values = run.logged(key)[-max(1, len(run.history) // 3):]
    return sum(values) / max(1, len(values))


def group_size_experiment(pipeline, group_size: int, progress: bool = True) -> ExperimentResult:
    """Exercise 2.5: R1-Zero with `group_size` completions per prompt (same prompts per step,
    same number of steps). Compared: held-out accuracy (greedy), averaged over the points
    measured after step 0: how fast the run learns."""
    changes = _checked(pipeline, {"group_size": group_size})
    return _experiment("2.5", pipeline, changes, f"G={group_size}",
                       "held-out accuracy (greedy), mean over the measured points after step 0",
                       lambda run: _after_step_0(run, "accuracy"), 0.03, "kept_fraction", progress)


def kl_experiment(pipeline, beta: float, progress: bool = True) -> ExperimentResult:
    """Exercise 2.6: R1-Zero with the KL penalty `beta` to the frozen base. Compared: how far
    the final model has moved from the base (KL per response, on its own samples)."""
    changes = _checked(pipeline, {"beta": beta})
    return _experiment("2.6", pipeline, changes, f"beta={beta:g}",
                       "KL(model || base) per response at the end of the run (nats)",
                       lambda run: run.points[-1]["kl"], 0.1, "kl", progress)


def consistency_experiment(pipeline, weight: float, progress: bool = True) -> ExperimentResult:
    """Exercise 2.7: R1-Zero's rewards plus the consistency reward with `weight`. Compared:
    the share of the run's own samples (temperature 1) whose thinking mixes digit scripts, over
    the last third of the steps."""
    changes = _checked(pipeline, {"reward_weights.consistency": weight})
    return _experiment("2.7", pipeline, changes, f"+ {weight:g} consistency",
                       "language mixing in the RL samples, mean over the last third of the steps",
                       lambda run: _last_third(run, "mixing_rate"), 0.02, "mixing_rate", progress)


def _per_step(key: str) -> Callable:
    return lambda run: (list(range(1, len(run.history) + 1)), _smooth(run.logged(key), 5))


_PANELS = {   # the third panel: (title, y label, run -> (x, y))
    "kept_fraction": ("samples that teach", "share of samples that got a gradient\n"
                      "(their group's rewards differ)", _per_step("kept_fraction")),
    "kl": ("drift from the base", "KL(model || base) per response",
           lambda run: (run.measured("step"), run.measured("kl"))),
    "mixing_rate": ("language mixing in the RL samples", "share of RL samples that mix scripts\n"
                    "(smoothed over 5 steps)", _per_step("mixing_rate")),
}


def plot_experiment(result: ExperimentResult, path=None):
    """Three panels, one line per run: held-out accuracy (greedy), response length of the RL
    samples (smoothed), and the curve of what the experiment compares."""
    from .plots import _finish

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    title, ylabel, series = _PANELS[result.panel]
    for (label, run), color in zip(result.runs.items(), ("tab:gray", "tab:blue")):
        axes[0].plot(run.measured("step"), run.measured("accuracy"), "o-", color=color, label=label)
        axes[1].plot(range(1, len(run.history) + 1), _smooth(run.logged("mean_response_tokens"), 5),
                     color=color, label=label)
        x, y = series(run)
        axes[2].plot(x, y, "o-" if result.panel == "kl" else "-", color=color, label=label)
    axes[0].set(ylabel="accuracy (held-out, greedy)", ylim=(-0.02, 1.02),
                title=f"Exercise {result.exercise}: held-out accuracy")
    axes[1].set(ylabel="tokens per RL sample (smoothed)", title="response length", ylim=(0, None))
    axes[2].set(ylabel=ylabel, title=title, ylim=(0, None))
    for ax in axes:
        ax.set(xlabel="GRPO step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _finish(fig, path)


# ------------------------------------------------------------------ 2.8: the SFT loss

SFT_VOCAB = 12


def _sft_batch(gen, rows, scale: float = 2.0, pad: int | None = 0) -> tuple:
    """(logits, ids, prompt_lengths, lengths) for rows of (prompt length, length): token ids
    right-padded (with 0, or with random ids when `pad` is None: `lengths` says where a row
    ends, whatever the padding holds), and random logits standing for a model's output."""
    width = max(length for _, length in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    for r, (_, length) in enumerate(rows):
        ids[r, :length] = torch.randint(1, SFT_VOCAB, (length,), generator=gen)
        if pad is None:
            ids[r, length:] = torch.randint(1, SFT_VOCAB, (width - length,), generator=gen)
    logits = torch.randn(len(rows), width, SFT_VOCAB, generator=gen) * scale
    return logits, ids, [p for p, _ in rows], [length for _, length in rows]


def _sft_cases(seed: int = 0) -> list:
    gen = torch.Generator().manual_seed(seed)
    fixed = [
        [(3, 6)],                      # one row, no padding
        [(1, 4)],                      # a prompt of one token (the start token alone)
        [(4, 5)],                      # one completion token (its end token)
        [(2, 7), (5, 6), (3, 4)],      # rows of different lengths: padding after the short ones
        [(6, 7), (1, 7)],              # a long prompt next to a short one
        [(2, 3), (2, 9)],              # one target token next to seven
    ]
    cases = [_sft_batch(gen, rows) for rows in fixed]
    # a confident model: logits in the hundreds, where exp() overflows and softmax rounds to 0
    # (log(softmax(...)) is -inf there; log_softmax and cross_entropy are not)
    cases.append(_sft_batch(gen, [(2, 6), (3, 8)], scale=150.0))
    cases.append(_sft_batch(gen, [(1, 5)], scale=60.0))
    # padding that is not 0: only `lengths` says where a row's real tokens end
    cases.append(_sft_batch(gen, [(2, 4), (3, 8), (1, 2)], pad=None))
    for _ in range(22):
        rows = []
        for _ in range(int(torch.randint(1, 5, (1,), generator=gen))):
            length = int(torch.randint(2, 10, (1,), generator=gen))
            rows.append((int(torch.randint(1, length, (1,), generator=gen)), length))
        cases.append(_sft_batch(gen, rows))
    return cases


def completion_only_loss(logits, ids, prompt_lengths, lengths):
    """The course's SFT loss on a right-padded batch, as chapter 1's `train` takes it with
    PromptCompletionBatches(completion_only=True): the mean cross-entropy over every target
    token that is part of a completion (position t predicts ids[:, t + 1]; the prompt's
    tokens and the padding are not targets)."""
    targets = ids[:, 1:]
    position = torch.arange(targets.shape[1])[None, :] + 1          # the target's position
    mask = ((position >= torch.tensor(prompt_lengths)[:, None])
            & (position < torch.tensor(lengths)[:, None]))
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    return (per_token * mask.reshape(-1)).sum() / mask.sum().clamp(min=1)


def check_sft_loss(student: Callable) -> Verdict:
    """Exercise 2.8: `student(logits, ids, prompt_lengths, lengths)` -> SFT's completion-only
    loss (a 0-dim tensor), compared on its value and on its gradient with respect to the
    logits. ids (B, T) are right-padded; row b has `lengths[b]` real tokens, of which the first
    `prompt_lengths[b]` are the prompt."""
    def sft_loss(logits, ids, prompt_lengths, lengths):   # the lengths come as tuples
        return student(logits, ids, tuple(prompt_lengths), tuple(lengths))

    return check("2.8", _value_and_gradient(sft_loss, "logits"),
                 _value_and_gradient(completion_only_loss, "logits"), _sft_cases(), compare=_same_parts,
                 show_case=lambda c: (f"ids={_show(c[1], 300)}\n  prompt_lengths={c[2]}, "
                                      f"lengths={c[3]}, logits of shape {tuple(c[0].shape)}"))


# ------------------------------------------------------------------ 2.9: rejection sampling

def _rejection_cases(seed: int = 0) -> list:
    """(prompts, completions, answers) as the teacher's samples come: edge cases, then random."""
    latin, persian = "(3+4)*2?", "(۳+۴)*۲?"
    right = "<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>"
    right_fa = "<think>(۳+۴)*۲ = ۷*۲ = ۱۴</think><answer>۱۴</answer>"
    fixed = [
        (latin, right), (persian, right_fa),                               # kept
        (latin, "<think>(3+4)*2 = 7*2 = 15</think><answer>15</answer>"),   # wrong
        (latin, "<answer>14</answer>"),                                    # right, no thinking
        (latin, "<think></think><answer>14</answer>"),                     # right, empty thinking
        (latin, "<think>(3+4)*2 = 14</think><answer>14</answer> and more"),  # not well-formed
        (persian, "<think>(۳+۴)*۲ = 7*2 = ۱۴</think><answer>۱۴</answer>"),  # mixed scripts
        (persian, right),                                                  # all in the other script
        (latin, "<think>seven times two</think><answer>14</answer>"),      # thinking without digits
        (persian, "<think>(۳+۴)*۲ = ۷*۲ = ۱۴</think><answer>14</answer>"),  # answer's script: free
        (latin, right), (latin, right),                                    # the same sample twice
        # well-formed with newlines and tabs inside and around the blocks: kept
        (latin, "<think>(3+4)*2\n= 7*2\n= 14</think>\n<answer>\t14\n</answer>\n"),
        (latin, "<answer>14</answer><think>(3+4)*2 = 14</think>"),         # blocks swapped
        (latin, "<think>(3+4)*2 = 14</think><answer>14</answer><answer>14</answer>"),  # twice
        (latin, "<think>(3+4)*2 = 14 ٣</think><answer>14</answer>"),       # ٣ is no digit of ours
    ]
    cases = [((p,), (c,), (14,)) for p, c in fixed]
    cases.append(tuple(zip(*[(p, c, 14) for p, c in fixed])))             # all in one batch
    rng = random.Random(seed)
    for _ in range(26):
        rows = []
        for prompt, value in rl_prompts(rng, rng.randint(1, 6)):
            script = "persian" if any(ch in "۰۱۲۳۴۵۶۷۸۹" for ch in prompt) else "latin"
            shown = str(value + rng.choice([0, 0, 0, 1]))
            if script == "persian" and rng.random() < 0.8:
                shown = shown.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
            digits = rng.choice(["0123456789", "۰۱۲۳۴۵۶۷۸۹", "0۱"])
            think = "".join(rng.choice(digits + "+-*= ") for _ in range(rng.randint(0, 10)))
            completion = rng.choice([f"<think>{think}</think><answer>{shown}</answer>",
                                     f"<think>{prompt[:-1]} = {shown}</think><answer>{shown}</answer>",
                                     f"<answer>{shown}</answer>"])
            rows.append((prompt, completion, value))
        cases.append(tuple(zip(*rows)))
    return cases


def check_rejection_filter(student: Callable) -> Verdict:
    """Exercise 2.9: `student(prompts, completions, answers)` -> the (prompt, completion) pairs
    rejection sampling keeps, in order: right, well-formed, with a non-empty thinking block
    whose digits are all in the prompt's script. The lists come as tuples (a filter that edits
    its inputs fails loudly instead of changing the teacher's samples)."""
    def kept(prompts, completions, answers):
        return [tuple(pair) for pair in student(prompts, completions, answers)]

    return check("2.9", kept, lambda p, c, a: keep_for_sft(p, c, a)["kept"], _rejection_cases(),
                 show_case=lambda c: "\n  ".join(f"{p!r:<14} {x!r}  (answer {a})" for p, x, a in zip(*c)))


# ------------------------------------------------------------------ 2.10: one GRPO update

def _grpo_case(gen, n_prompts: int, group: int, rewards=None, finished=None) -> tuple:
    """(seed, prompt_ids, completion_ids, finished, rewards) with random token ids."""
    prompt_ids, completion_ids = [], []
    for _ in range(n_prompts):
        prompt = torch.randint(3, 64, (int(torch.randint(2, 6, (1,), generator=gen)),), generator=gen)
        for _ in range(group):
            prompt_ids.append([1] + prompt.tolist())
            length = int(torch.randint(1, 8, (1,), generator=gen))
            completion_ids.append(torch.randint(3, 64, (length,), generator=gen).tolist())
    if finished is None:
        finished = (torch.rand(n_prompts * group, generator=gen) < 0.8).tolist()
    completion_ids = [c + [2] if f else c for c, f in zip(completion_ids, finished)]   # 2: the end token
    if rewards is None:
        levels = torch.tensor([0.0, 0.1, 1.0, 1.1])
        rewards = levels[torch.randint(0, 4, (n_prompts, group), generator=gen)]
    seed = int(torch.randint(0, 1000, (1,), generator=gen))
    return seed, tuple(map(tuple, prompt_ids)), tuple(map(tuple, completion_ids)), tuple(finished), rewards


def _grpo_cases(seed: int = 0) -> list:
    gen = torch.Generator().manual_seed(seed)
    cases = [
        _grpo_case(gen, 2, 4, torch.tensor([[1.1, 0.1, 1.1, 0.0], [1.1, 1.1, 1.1, 1.1]]),
                   [True] * 8),                                         # one group all equal
        _grpo_case(gen, 1, 4, torch.tensor([[1.1, 0.1, 1.1, 0.0]]),
                   [True, False, True, True]),                          # one answer cut off
        _grpo_case(gen, 2, 2, torch.tensor([[1.0, 0.0], [0.1, 1.1]]), [True] * 4),   # G = 2
        _grpo_case(gen, 1, 3, torch.tensor([[1.0, 1.0, 1.0]]), [True] * 3),  # nothing to learn
        _grpo_case(gen, 2, 3, torch.tensor([[0.0, 0.0, 10.0], [0.0, 0.1, 0.0]]), [True] * 6),
    ]
    cases += [_grpo_case(gen, int(torch.randint(1, 4, (1,), generator=gen)),
                         int(torch.randint(2, 6, (1,), generator=gen))) for _ in range(12)]
    return cases


def _tiny_policy(seed: int):
    from ch01_what_is_reasoning.model import GPT, GPTConfig

    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=64, block_size=32, n_layer=1, n_head=2, n_embd=16))


def grpo_update(model, optimizer, prompt_ids, completion_ids, finished, rewards, pad_id=0,
                eps_low=0.2, eps_high=0.28):
    """One GRPO update as the course's trainer makes it (mu = 1, no KL, 'dapo' loss), from the
    rollouts of one step: group advantages; groups whose rewards are all equal, and answers
    cut off by the length limit, left out; the clipped loss on the kept answers' tokens; one
    clipped-gradient step. Returns the loss, or None when nothing was kept (no update)."""
    group = rewards.shape[1]
    advantages = group_advantages(rewards).reshape(-1)
    keep = (rewards.max(1).values > rewards.min(1).values).repeat_interleave(group)
    keep &= torch.tensor(finished)
    idx = keep.nonzero().squeeze(-1).tolist()
    if not idx:
        return None
    logp, mask, _ = completion_logprobs(model, [list(prompt_ids[i]) for i in idx],
                                        [list(completion_ids[i]) for i in idx], pad_id)
    loss, _ = grpo_loss(logp, logp.detach(), advantages[idx], mask, eps_low=eps_low,
                        eps_high=eps_high, loss_type="dapo")
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss


NO_UPDATE = "no update: nothing was kept"


def _update_and_read(update: Callable) -> Callable:
    """Run `update` on a fresh tiny GPT (plain SGD, so the step shows the gradient it used) and
    return what to compare: the loss, every parameter's gradient, every parameter after.

    The parameters come with stale gradients, as they do in training after the previous step's
    backward pass: an update that forgets to zero them adds them to its own."""
    def run(seed, prompt_ids, completion_ids, finished, rewards):
        model = _tiny_policy(seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        stale = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=stale)
        loss = update(model, optimizer, prompt_ids, completion_ids, finished, rewards)
        if loss is not None and not isinstance(loss, torch.Tensor):
            raise TypeError(f"return the loss tensor (or None when nothing was kept), got {_show(loss, 80)}")
        names = [n for n, _ in model.named_parameters()]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach() for p in model.parameters()]
        return Update({"loss (value)": None if loss is None else float(loss.detach()),
                       "gradients (after clipping), by parameter":
                           NO_UPDATE if loss is None else dict(zip(names, grads)),
                       "parameters after the update": {n: p.detach()
                                                       for n, p in model.named_parameters()}})
    return run


class Update(dict):
    """What a GRPO update is compared on; shown as the loss, then each parameter's gradient
    norm and the sum of its values after the step (so a verdict shows where two differ)."""

    def __repr__(self) -> str:
        loss = self["loss (value)"]
        grads = self["gradients (after clipping), by parameter"]
        after = self["parameters after the update"]
        lines = [f"loss (value) {'None (no update)' if loss is None else f'{loss:.8g}'}",
                 "  parameter: gradient norm (after clipping) | sum of the parameters after the update"]
        for n, p in after.items():
            norm = "-" if not isinstance(grads, dict) else f"{float(grads[n].norm()):.8g}"
            lines.append(f"  {n}: {norm} | {float(p.sum()):.8g}")
        return "\n".join(lines)


def _same_update(expected: dict, got: dict) -> bool:
    for part, value in expected.items():
        if isinstance(value, dict):
            if not isinstance(got[part], dict) or not all(same(value[n], got[part][n], tol=1e-4)
                                                          for n in value):
                return False
        elif (value is None) != (got[part] is None) or (value is not None and not same(value, got[part])):
            return False
    return True


def check_grpo_step(student: Callable) -> Verdict:
    """Exercise 2.10: `student(model, optimizer, prompt_ids, completion_ids, finished, rewards)`
    makes one GRPO update from a step's rollouts and returns its loss (None when no answer is
    kept). Compared on the loss's value, the gradient of every parameter and the parameters
    after the update, on a fresh tiny GPT per case."""
    return check("2.10", _update_and_read(student), _update_and_read(grpo_update), _grpo_cases(),
                 compare=_same_update,
                 show_case=lambda c: (f"rewards={_show(c[4], 200)}, finished={list(c[3])}\n  "
                                      f"prompt_ids={list(c[1])[:4]} …, completion_ids="
                                      f"{list(c[2])[:4]} … (pad_id 0, end token 2)"))
