"""What every setting may be, declared once and checked before any work.

A chapter's settings are dataclasses (runtime.Preset, chapter 2's Settings, GRPOConfig,
SFTConfig, RejectionConfig, chapters 3 and 4's Settings). `RANGES` below says, for every field
name, what its value may be; `BY_CLASS` overrides that for one class where the same name means
something else there ("temperature" is sampled in GRPO, may be greedy in rejection sampling);
`RELATIONS` are rules between two fields (n_embd a multiple of n_head). `check_settings(obj,
prefix)` walks a settings dataclass (nested dataclasses, dicts of reward weights, tuples of
model shapes) and raises a SettingError (an OverrideError, so every chapter's command line
prints it as one line and exits 2) naming the dotted key, the range and the value:

    r1.lr must be a finite number > 0, got -1

Every chapter calls it when it builds its settings, before the first stage trains, so a bad
value fails in a second, not after an hour of training or as a NaN model that "succeeds".
A field with no declared range is a programming error (LookupError); a unit test walks every
settings dataclass the chapters use and fails if a new field has none.

Decisions worth knowing:
- steps may be 0 (a stage that trains nothing: useful to look at a starting point), never
  negative; counts of prompts, problems, examples per batch are >= 1; intervals >= 1.
- learning rates are finite and > 0 (infinity made every weight NaN). A large finite one is
  allowed: it diverges at its first steps, and training stops there naming the step
  (runtime.check_finite), with nothing saved.
- reward weights are any finite number in [-1e6, 1e6]: a negative weight is a penalty (the
  advantages are relative to each group, so its sign is well defined and useful in an
  ablation); the bound keeps the weighted sum and its spread finite in float32.
- temperatures: GRPO samples its rollouts and scores them at that temperature, so > 0 (at least
  0.001: below that logits / temperature overflow float32); rejection sampling may also use 0
  (greedy: keep the model's most likely answer when it is right).
- operation counts lie in 1..6: zero operations is no problem to reason about, and a worked
  solution of 7 operations no longer fits the model's 128-token context.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Callable

from .overrides import SettingError, shown
from .runtime import PRESETS, ModelShape

__all__ = ["Range", "RANGES", "BY_CLASS", "RELATIONS", "SettingError", "check_settings",
           "range_of", "WORLD_OPS", "LOSS_TYPES", "MAX_TEST_PROBLEMS", "SEED_LIMIT"]

WORLD_OPS = range(1, 7)          # operations per problem the world (and its context) allows
LOSS_TYPES = ("grpo", "dapo", "dr_grpo")   # ch02_r1_pipeline.grpo_loss.LOSS_TYPES (a test checks)
MAX_TEST_PROBLEMS = 10_000       # held-out problems, built when a pipeline opens (~5 s for 10k)
SEED_LIMIT = 2**32 - 1           # the largest seed numpy accepts (torch and random take more)


@dataclass(frozen=True)
class Range:
    """What one setting may be. `text` completes "<key> must be ..." (a function of the
    context when it lists names only the caller knows, such as the pipeline's stages);
    `test(value, context)` says whether a value is in range. A dict setting (reward weights)
    gives the range of each entry as `entries`, and `names` the context key listing the names
    its keys may take."""

    text: str | Callable[[dict], str]
    test: Callable[[object, dict], bool]
    entries: Range | None = None
    names: str | None = None

    def describe(self, context: dict) -> str:
        return self.text(context) if callable(self.text) else self.text


# ------------------------------------------------------------------ building blocks
def _whole_value(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _finite_value(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    return True if isinstance(v, numbers.Integral) else math.isfinite(float(v))


def _num(x: float) -> str:
    """1e6 as 1e6 (not 1e+06), 0.001 as 0.001."""
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def whole(least: int = 0, most: int | None = None, why: str = "") -> Range:
    """A whole number (not a bool) in least..most."""
    text = f"a whole number >= {least}" if most is None else f"a whole number in {least}..{most}"
    return Range(text + (f" ({why})" if why else ""),
                 lambda v, c: _whole_value(v) and v >= least and (most is None or v <= most))


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           why: str = "") -> Range:
    """A finite real number, low < v (low_open) or low <= v, and v <= high."""
    if high is None:
        text = "a finite number" + ("" if low is None else f" {'>' if low_open else '>='} {_num(low)}")
    else:
        text = f"a finite number in {'(' if low_open else '['}{_num(low)}, {_num(high)}]"

    def test(v, c):
        if not _finite_value(v):
            return False
        above = low is None or (v > low if low_open else v >= low)
        return above and (high is None or v <= high)

    return Range(text + (f" ({why})" if why else ""), test)


def whole_tuple(least: int = 1, most: int | None = None, *, length: int | None = None,
                why: str = "") -> Range:
    """A non-empty tuple of whole numbers in least..most (of exactly `length` if given)."""
    each = f">= {least}" if most is None else f"in {least}..{most}"
    size = f"a tuple of {length}" if length else "a non-empty tuple of"
    one = whole(least, most)
    return Range(f"{size} whole numbers {each}" + (f" ({why})" if why else ""),
                 lambda v, c: (isinstance(v, (tuple, list)) and len(v) > 0
                               and (length is None or len(v) == length)
                               and all(one.test(x, c) for x in v)))


def one_of(choices, why: str = "") -> Range:
    return Range(f"one of {', '.join(map(repr, choices))}" + (f" ({why})" if why else ""),
                 lambda v, c: isinstance(v, str) and v in choices)


FLAG = Range("True or False", lambda v, c: isinstance(v, bool))
STEPS = whole(0)
COUNT = whole(1)
INTERVAL = whole(1, why="steps between two of them")
LR = number(0, low_open=True)
SEED = whole(0, SEED_LIMIT)
SHAPE_SIZE = whole(1)


def _shapes(v, c) -> bool:
    return (isinstance(v, (tuple, list)) and len(v) > 0
            and all(isinstance(s, ModelShape) for s in v))


def _stage_list(context: dict) -> str:
    stages = context.get("model_stages")
    return f" ({', '.join(stages)})" if stages else ""


def _is_model_stage(v, context: dict) -> bool:
    stages = context.get("model_stages")
    return isinstance(v, str) and bool(v) and (stages is None or v in stages)


def _preset_name(v, c) -> bool:
    return isinstance(v, str) and (v in PRESETS or v.removesuffix("-student") in PRESETS)


WEIGHTS = Range("a dict of reward names to weights", lambda v, c: isinstance(v, dict)
                and all(isinstance(k, str) for k in v),
                entries=number(-1e6, 1e6, why="a negative weight is a penalty"), names="rewards")


# ------------------------------------------------------------------ the table
RANGES: dict[str, Range] = {
    # --- model shapes (runtime.Preset, model.ModelShape): RELATIONS adds n_embd % n_head == 0
    "n_layer": SHAPE_SIZE,
    "n_head": SHAPE_SIZE,
    "n_embd": SHAPE_SIZE,
    # --- chapter 1's preset (runtime.Preset)
    "pretrain_steps": STEPS,
    "batch_size": COUNT,
    "lr": LR,
    "corpus_docs": whole(50, why="the packed corpus must fill more than one 128-token block"),
    "eval_problems": COUNT,
    "sample_efficiency_sizes": whole_tuple(1, why="training examples per run"),
    "sample_efficiency_steps": STEPS,
    "sample_efficiency_model": Range("a model shape", lambda v, c: isinstance(v, ModelShape)),
    # --- GRPO (ch02_r1_pipeline.grpo.GRPOConfig)
    "steps": STEPS,
    "prompts_per_step": COUNT,
    "group_size": whole(2, why="advantages compare completions of one prompt"),
    "max_new_tokens": COUNT,
    "mu": whole(1, why="updates per batch of rollouts"),
    "eps_low": number(0, 1, why="the ratio is clipped below at 1 - eps_low"),
    "eps_high": number(0),
    "beta": number(0, 1e6, why="the weight of the KL penalty"),
    "loss_type": one_of(LOSS_TYPES),
    "scale_by_std": FLAG,
    "skip_equal_groups": FLAG,
    "mask_truncated": FLAG,
    "reward_weights": WEIGHTS,
    "seed": SEED,
    # --- SFT (ch02_r1_pipeline.sft.SFTConfig): steps, lr, batch_size, seed as above
    "examples": whole(0, why="0 trains on the data its input stage wrote"),
    # --- rejection sampling (ch02_r1_pipeline.sft.RejectionConfig)
    "prompts": COUNT,
    "ops": whole_tuple(WORLD_OPS.start, WORLD_OPS.stop - 1, why="operations per problem"),
    "k": whole(1, why="samples per prompt"),
    "knowledge_examples": whole(0),
    "require_consistent": FLAG,
    "max_examples": whole(0, why="0 keeps every correct trace"),
    # --- chapter 2's Settings (ch02_r1_pipeline.recipe.Settings)
    "test_problems": whole(1, MAX_TEST_PROBLEMS, why="held-out problems every stage is scored on"),
    "curve_problems": COUNT,
    "curve_every": INTERVAL,
    "save_every": INTERVAL,
    "aha_every": INTERVAL,
    "rl": Range("GRPO settings", lambda v, c: dataclasses.is_dataclass(v)),
    "aha_rl": Range("GRPO settings", lambda v, c: dataclasses.is_dataclass(v)),
    "rejection": Range("rejection-sampling settings", lambda v, c: dataclasses.is_dataclass(v)),
    "student": Range("a model shape", lambda v, c: isinstance(v, ModelShape)),
    "r1_zero_steps": STEPS,
    "cold_start_traces": whole(1, why="R1-Zero's samples kept for the cold start"),
    "cold_start_program_traces": whole(0, why="0 uses R1-Zero's samples"),
    "cold_start_steps": STEPS,
    "reasoning_rl_steps": STEPS,
    "later_rl_lr": LR,
    "sft_steps": STEPS,
    "sft_batch": COUNT,
    "sft_lr": LR,
    "final_rl_steps": STEPS,
    "student_pretrain_steps": STEPS,
    "distill_steps": STEPS,            # chapter 2's and chapter 4's: SFT steps of the student
    "distill_lr": LR,
    "student_rl_steps": STEPS,
    # --- chapter 3's Settings (ch03_four_methods.chapter.Settings)
    "pool_size": whole(1, why="samples per problem"),
    "headline_n": COUNT,               # RELATIONS: at most pool_size
    "budgets": whole_tuple(0, why="thinking budgets in tokens"),
    "beam": whole_tuple(1, length=2, why="beam width, expansions per beam"),
    "pooled_models": Range(lambda c: "a non-empty tuple of model stages that includes 'base'"
                           + _stage_list(c),
                           lambda v, c: (isinstance(v, (tuple, list)) and "base" in v
                                         and all(_is_model_stage(x, c) for x in v))),
    # --- chapter 4's Settings (ch04_budget.chapter.Settings)
    "teacher_problems": COUNT,
    "trace_counts": whole_tuple(1, why="each at most teacher_problems"),
    "targeted_n": COUNT,               # RELATIONS: at most teacher_problems
    "sweep_shapes": Range("a non-empty tuple of model shapes (n_layer, n_head, n_embd)", _shapes),
    "sweep_pretrain_steps": STEPS,
    "journey_problems": COUNT,
    "journey_corrections": number(0, 100, why="corrected traces per problem"),
    "journey_steps": STEPS,
    "journey_lr": LR,
    "teacher": Range(lambda c: "'worked solutions' or a model stage of chapter 2" + _stage_list(c),
                     lambda v, c: v == "worked solutions" or _is_model_stage(v, c)),
}

# "Class.field": where a name means something else in one class.
BY_CLASS: dict[str, Range] = {
    "Preset.name": Range(f"a preset's name ({', '.join(map(repr, PRESETS))}, or one of them "
                         f"+ '-student')", _preset_name),
    "GRPOConfig.temperature": number(1e-3, why="GRPO samples its rollouts: 0 is not sampling"),
    "RejectionConfig.temperature": Range(
        "0 (greedy) or a finite number >= 0.001",
        lambda v, c: _finite_value(v) and (v == 0 or v >= 1e-3)),
}


@dataclass(frozen=True)
class Relation:
    """A rule between fields of one settings object; it applies to any that has all `fields`."""

    fields: tuple[str, ...]
    holds: Callable[..., bool]
    text: Callable[..., str]        # the message, given the prefix and the values


def _counts_fit(counts, problems) -> bool:
    return not isinstance(counts, (tuple, list)) or all(
        not isinstance(n, numbers.Real) or n <= problems for n in counts)


RELATIONS: tuple[Relation, ...] = (
    Relation(("n_embd", "n_head"), lambda n_embd, n_head: n_embd % n_head == 0,
             lambda p, n_embd, n_head: f"{p}n_embd must be a multiple of {p}n_head (each head "
                                       f"reads n_embd / n_head dimensions), got n_embd={n_embd} "
                                       f"and n_head={n_head}"),
    Relation(("headline_n", "pool_size"), lambda headline_n, pool_size: headline_n <= pool_size,
             lambda p, headline_n, pool_size: f"{p}headline_n must be at most {p}pool_size (its "
                                              f"votes read the pool's samples), got "
                                              f"headline_n={headline_n} and pool_size={pool_size}"),
    Relation(("targeted_n", "teacher_problems"), lambda t, n: t <= n,
             lambda p, t, n: f"{p}targeted_n must be at most {p}teacher_problems (one trace per "
                             f"problem at most), got targeted_n={t} and teacher_problems={n}"),
    Relation(("trace_counts", "teacher_problems"), _counts_fit,
             lambda p, counts, n: f"{p}trace_counts must each be at most {p}teacher_problems (one "
                                  f"trace per problem at most), got trace_counts={shown(counts)} "
                                  f"and teacher_problems={n}"),
)


# ------------------------------------------------------------------ the check
def range_of(cls_or_obj, name: str) -> Range:
    """The declared range of field `name` of a settings class (LookupError if none is)."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    for klass in cls.__mro__:
        found = BY_CLASS.get(f"{klass.__name__}.{name}")
        if found is not None:
            return found
    if name in RANGES:
        return RANGES[name]
    raise LookupError(f"{cls.__name__}.{name} has no declared range: add it to RANGES (or "
                      f"BY_CLASS) in course/setting_ranges.py")


def check_settings(obj, prefix: str = "", context: dict | None = None, *, strict: bool = True) -> None:
    """Raise SettingError for the first setting of the dataclass `obj` outside its range,
    naming it by its dotted key (`prefix` + field, e.g. "r1_zero." + "lr").

    `context` holds what only the caller knows: "rewards", the reward names a GRPO stage may
    weigh; "model_stages", the names of chapter 2's stages that make a model. Without them,
    those names are not checked (GRPOConfig checks itself this way when it is made).
    `strict=False` passes over fields with no declared range (a subclass's new ones) instead
    of raising LookupError."""
    context = context or {}
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        try:
            rule = range_of(obj, f.name)
        except LookupError:
            if strict:
                raise
            continue
        if not rule.test(value, context):
            raise SettingError(f"{key} must be {rule.describe(context)}, got {shown(value)}", key)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_settings(value, f"{key}.", context, strict=strict)
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    check_settings(item, f"{key}[{i}].", context, strict=strict)
        if rule.entries is not None:
            _check_entries(value, key, rule, context)
    names = {f.name for f in dataclasses.fields(obj)}
    for relation in RELATIONS:
        if set(relation.fields) <= names:
            values = [getattr(obj, n) for n in relation.fields]
            if not relation.holds(*values):
                raise SettingError(relation.text(prefix, *values), prefix + relation.fields[0])


def _check_entries(value: dict, key: str, rule: Range, context: dict) -> None:
    known = context.get(rule.names) if rule.names else None
    for name, entry in value.items():
        if known is not None and name not in known:
            raise SettingError(f"{key} must name rewards the pipeline knows ({', '.join(sorted(known))}), "
                               f"got {name!r}", key)
        if not rule.entries.test(entry, context):
            raise SettingError(f"{key}.{name} must be {rule.entries.describe(context)}, "
                               f"got {shown(entry)}", f"{key}.{name}")
