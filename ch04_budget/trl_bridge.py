"""From the notebook to TRL: chapter 2's tasks, rewards and GRPO settings in Hugging Face TRL.

A student who outgrows the course loop moves to TRL's GRPOTrainer (vLLM, multi-GPU, PEFT).
The rewards already have TRL's signature; what goes wrong silently is the plumbing, and this
module handles it (checked against TRL 1.16.0's source):

- Chat templates with a response parser (Qwen2.5/Qwen3 in TRL) move `<think>...</think>` into
  the reply's `reasoning_content` field, and a format reward reading `content` scores a perfect
  reply 0. The course's rewards (rewards._text) put the reasoning back between its tags.
- `remove_unused_columns=True` (transformers' default) drops the `answer` column before the
  rewards see it, and accuracy is 0 for every completion, silently. TRL 1.16's GRPOConfig
  defaults to False; the bridge sets it explicitly, whatever TRL's default becomes.
- TRL wants the transformers tokenizer itself, not the course's HFTokenizer wrapper, and a
  chat template for conversational prompts: the character-level tokenizer gets one here.
- The two trainers share most settings under other names and defaults: settings_table() maps
  them, and trl_config() translates a course GRPOConfig, matching the course where TRL can.

trl is imported inside the functions, so the course runs without it installed.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import torch

from ch02_r1_pipeline.grpo import LOGGED_REWARDS, GRPOConfig
from ch02_r1_pipeline.rewards import REWARDS
from ch02_r1_pipeline.tasks import rl_prompts
from ch04_budget.policy import HFPolicy, HFTokenizer, char_level_hf_tokenizer

# The course's prompt format, as a chat template: "<bos>" + the question, and the model answers
# right after it ("<think>...</think><answer>...</answer><eos>"). So the generation prompt adds
# nothing, and a conversational prompt becomes exactly the ids the course's own loop feeds the
# model (CharTokenizer.encode(prompt, bos=True)). It may only write characters the character
# vocabulary has: there is no newline and no "<|im_start|>" to write role markers with.
CHAR_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
)


def char_chat_tokenizer():
    """The course's character-level transformers tokenizer, with CHAR_CHAT_TEMPLATE."""
    tokenizer = char_level_hf_tokenizer()
    tokenizer.chat_template = CHAR_CHAT_TEMPLATE
    return tokenizer


def course_dataset(n: int, seed: int = 0, conversational: bool = False):
    """`n` RL problems of chapter 2 as a datasets.Dataset with columns `prompt` and `answer`.

    conversational=True makes each prompt a chat ([{"role": "user", "content": ...}]); TRL then
    renders it with the tokenizer's chat template and hands the rewards chat messages."""
    from datasets import Dataset

    pairs = rl_prompts(random.Random(seed), n)
    prompts = [[{"role": "user", "content": p}] if conversational else p for p, _ in pairs]
    return Dataset.from_dict({"prompt": prompts, "answer": [a for _, a in pairs]})


# ---------------------------------------------------------------- the settings, side by side
class Setting(NamedTuple):
    course: str            # a field of ch02's GRPOConfig, or (in brackets) a fixed choice of the course
    course_default: object
    trl: str | None        # the trl.GRPOConfig field; None: TRL has no such setting
    trl_default: object    # that field's default in TRL 1.16.0 (tests compare it to the installed one)
    bridge: str            # what trl_config sets it to
    difference: str = ""


# Every claim below was read in TRL 1.16.0's trainer/grpo_config.py and grpo_trainer.py.
SETTINGS = [
    Setting("lr", 1e-4, "learning_rate", 1e-6, "lr", "TRL's default is 100x smaller"),
    Setting("group_size", 8, "num_generations", 8, "group_size", ""),
    Setting("prompts_per_step", 8, "per_device_train_batch_size", 8, "prompts_per_step * group_size",
            "TRL counts completions, not prompts: a step has batch / num_generations prompts "
            "(on one device, without gradient accumulation)"),
    Setting("steps", 60, "max_steps", -1, "steps * mu",
            "a TRL step is one optimizer update; -1 = run num_train_epochs"),
    Setting("temperature", 1.0, "temperature", 1.0, "temperature",
            "both score log-probs at the sampling temperature; TRL's top_k=0, top_p=1 and "
            "repetition_penalty=1 sample plainly, as the course does"),
    Setting("max_new_tokens", 110, "max_completion_length", 512, "max_new_tokens",
            "dr_grpo's constant: the course divides by max_new_tokens + 1, TRL by max_completion_length"),
    Setting("mu", 1, "num_iterations", 1, "mu", ""),
    Setting("eps_low", 0.2, "epsilon", 0.2, "eps_low", ""),
    Setting("eps_high", 0.28, "epsilon_high", None, "eps_high", "None: the same as epsilon (no clip-higher)"),
    Setting("beta", 0.0, "beta", 0.0, "beta", "k3 KL to the start model; at 0 neither loads a reference"),
    Setting("(plain k3)", True, "use_bias_correction_kl", True, "False",
            "TRL's default multiplies k3 by the ratio pi/pi_old (DeepSeek-V3.2), which changes the "
            "gradient whenever beta != 0"),
    Setting("loss_type", "dapo", "loss_type", "dapo", "loss_type",
            "same names and formulas for grpo, dapo, dr_grpo; TRL's bnpo equals dapo on one device "
            "without accumulation"),
    Setting("scale_by_std", True, "scale_rewards", "group", "'group' if scale_by_std else 'none'",
            "both: group std with Bessel's correction, + 1e-4"),
    Setting("skip_equal_groups", True, None, None, "(not possible)",
            "TRL keeps equal-reward groups: advantage 0, but their tokens stay in the loss's "
            "denominator (a smaller step) and in the KL term; the course drops them"),
    Setting("mask_truncated", True, "mask_truncated_completions", False, "mask_truncated",
            "TRL zeroes the rows' mask: out of dapo's token count, but still counted as rows in "
            "grpo's mean and dr_grpo's constant (the course drops the rows)"),
    Setting("reward_weights", {"accuracy": 1.0, "format": 0.1}, "reward_weights", None,
            "one weight per reward_funcs entry",
            "TRL takes a list (None: all 1.0); the bridge adds the rewards the course logs at weight 0"),
    Setting("seed", 0, "seed", 42, "seed", ""),
    Setting("(AdamW betas)", (0.9, 0.95), "adam_beta2", 0.999, "0.95", ""),
    Setting("(weight decay)", 0.0, "weight_decay", 0.0, "0.0", ""),
    Setting("(lr schedule)", "constant", "lr_scheduler_type", "linear", "'constant'",
            "TRL decays the lr linearly to 0 over max_steps"),
    Setting("(grad clip)", 1.0, "max_grad_norm", 1.0, "1.0", ""),
    Setting("(precision)", "float32, bf16 autocast on GPUs with bf16", "bf16", None,
            "True on a GPU with bf16, else False", "None: TRL turns it on unless fp16 is set"),
    Setting("(<bos> first)", True, None, None, "CHAR_CHAT_TEMPLATE",
            "TRL tokenizes a plain-text prompt with tokenizer(text): the character tokenizer adds "
            "no <bos>; a chat prompt gets it from the template"),
]


def settings_table() -> str:
    """The course's GRPO settings next to TRL's GRPOConfig, as a printable table."""
    header = ("course", "default", "TRL GRPOConfig", "TRL default", "bridge sets", "difference")
    rows = [header] + [(s.course, str(s.course_default), s.trl or "-", str(s.trl_default) if s.trl else "-",
                        s.bridge, s.difference) for s in SETTINGS]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def trl_config(course: GRPOConfig, output_dir: str, names: list[str] | None = None, **overrides):
    """A trl.GRPOConfig with the course config's meaning (see SETTINGS); `overrides` win.

    `names` orders the reward weights as the trainer's reward_funcs (default: reward_names())."""
    from trl import GRPOConfig as TRLConfig

    names = names or reward_names(course.reward_weights)
    cuda = torch.cuda.is_available()
    settings = dict(
        output_dir=output_dir,
        learning_rate=course.lr,
        num_generations=course.group_size,
        # One process: a step's batch is all its completions, in one forward/backward.
        per_device_train_batch_size=course.prompts_per_step * course.group_size,
        gradient_accumulation_steps=1,
        max_steps=course.steps * course.mu,
        temperature=course.temperature,
        max_completion_length=course.max_new_tokens,
        num_iterations=course.mu,
        epsilon=course.eps_low,
        epsilon_high=course.eps_high,
        beta=course.beta,
        use_bias_correction_kl=False,  # the course's k3, not k3 * ratio
        loss_type=course.loss_type,
        scale_rewards="group" if course.scale_by_std else "none",
        mask_truncated_completions=course.mask_truncated,
        reward_weights=[float(course.reward_weights.get(n, 0.0)) for n in names],
        adam_beta2=0.95, weight_decay=0.0, lr_scheduler_type="constant", max_grad_norm=1.0,
        seed=course.seed,
        remove_unused_columns=False,  # keep `answer`: accuracy_reward reads it
        # float32 weights, bfloat16 compute only on GPUs that have it natively (Ampere and later),
        # as policy.load_real_model does; TRL's default would turn it on everywhere
        bf16=cuda and torch.cuda.get_device_capability()[0] >= 8,
        use_cpu=not cuda,
        logging_steps=1, report_to="none", save_strategy="no",
    )
    settings.update(overrides)
    return TRLConfig(**settings)


def reward_names(weights: dict) -> list[str]:
    """The weighted rewards, then those the course always logs: TRL gets these at weight 0, so
    it logs them (rewards/<function name>/mean) without training on them."""
    return list(weights) + [n for n in LOGGED_REWARDS if n not in weights]


def reward_funcs(weights: dict, rewards: dict | None = None) -> tuple[list, list[str]]:
    """The reward functions TRL calls, and their course names (the order of reward_weights).

    `rewards` adds or replaces functions by name, as GRPOTrainer(..., rewards=...) does in the
    course."""
    table = {**REWARDS, **(rewards or {})}
    names = reward_names(weights)
    missing = [n for n in names if n not in table]
    if missing:
        raise ValueError(f"no reward function named {missing}: known rewards are {sorted(table)}")
    return [table[n] for n in names], names


def make_trainer(model, tokenizer, dataset, course_config: GRPOConfig, output_dir: str,
                 rewards: dict | None = None, **overrides):
    """trl.GRPOTrainer with the course's rewards and settings.

    model: a transformers causal LM (an HFPolicy is unwrapped); tokenizer: a transformers
    tokenizer or the course's HFTokenizer (TRL rejects the wrapper, so its `.tokenizer` is
    passed); dataset: `prompt` and `answer` columns (course_dataset); overrides: any
    trl.GRPOConfig field, e.g. max_steps=3."""
    from trl import GRPOTrainer

    model = model.model if isinstance(model, HFPolicy) else model
    tokenizer = tokenizer.tokenizer if isinstance(tokenizer, HFTokenizer) else tokenizer
    conversational = isinstance(dataset[0]["prompt"], list)
    if conversational and not getattr(tokenizer, "chat_template", None):
        raise ValueError("the dataset's prompts are chats but the tokenizer has no chat template: "
                         "use a plain-text dataset, or set tokenizer.chat_template (for the course's "
                         "character tokenizer: trl_bridge.char_chat_tokenizer())")
    funcs, names = reward_funcs(course_config.reward_weights, rewards)
    args = trl_config(course_config, output_dir, names, **overrides)
    return GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                       processing_class=tokenizer)
