"""Rule rewards, as DeepSeek-R1 used them: a program checks, no neural judge.

Each function has TRL's reward-function signature: it takes the `completions` (and, as
keyword arguments, `prompts` and every dataset column such as `answer`) and returns one float
per completion, so the same functions plug into TRL's GRPOTrainer. None of them evaluates
model text as code or raises, whatever the model writes; a caller's mistake (a column that is
not one value per completion) raises at once, naming it.
"""

from __future__ import annotations

from ch01_what_is_reasoning.arithmetic import LATIN_DIGITS, PERSIAN_DIGITS
from ch01_what_is_reasoning.verifier import verify

_LATIN, _PERSIAN = set(LATIN_DIGITS), set(PERSIAN_DIGITS)


def _text(completion) -> str:
    """TRL passes plain strings, or chat messages ([{'role': ..., 'content': ...}]).

    A chat template with a response parser (TRL's for Qwen2.5/Qwen3) moves the reply's
    <think>...</think> into `reasoning_content` (`thinking` for some models): it is put back
    between its tags, or the format and consistency rewards would never see the thinking."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]  # one message
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        message = completion[-1]
        content = str(message.get("content") or "")
        reasoning = message.get("reasoning_content") or message.get("thinking")
        return f"<think>{reasoning}</think>{content}" if reasoning else content
    return "" if completion is None else str(completion)


def _int_or_none(value):
    try:
        return int(str(value).translate(str.maketrans(PERSIAN_DIGITS, LATIN_DIGITS)))
    except (TypeError, ValueError):
        return None


def _one_per_completion(values, completions, name: str):
    """`values` (a column such as `answer`) checked to hold one entry per completion: zip()
    would otherwise silently drop the extra completions, or pair a string's characters with
    them. None stands for a column of Nones."""
    if values is None:
        return [None] * len(completions)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a list with one entry per completion (e.g. "
                        f"{name}=[{values!r}] * len(completions)), got {type(values).__name__} "
                        f"{values!r:.60}")
    if len(values) != len(completions):
        raise ValueError(f"{name} must have one entry per completion: got {len(completions)} "
                         f"completions but len({name}) is {len(values)}")
    return values


def accuracy_reward(completions, answer=None, **kwargs) -> list[float]:
    """1.0 when the answer inside <answer>...</answer> equals the ground truth, else 0.0."""
    answers = _one_per_completion(answer, completions, "answer")
    return [float(verify(_text(c), _int_or_none(a)).correct) for c, a in zip(completions, answers)]


def format_reward(completions, **kwargs) -> list[float]:
    """1.0 for exactly <think>...</think><answer>...</answer>, else 0.0."""
    return [float(verify(_text(c)).well_formed) for c in completions]


def digit_script(text: str) -> str | None:
    """'latin' or 'persian' by majority of digits; None when there are no digits."""
    latin = sum(ch in _LATIN for ch in text)
    persian = sum(ch in _PERSIAN for ch in text)
    if latin == persian == 0:
        return None
    return "latin" if latin >= persian else "persian"


def script_share(text: str, script: str) -> float | None:
    """Share of the digits of `text` written in `script`; None when there are no digits."""
    latin = sum(ch in _LATIN for ch in text)
    persian = sum(ch in _PERSIAN for ch in text)
    if latin + persian == 0:
        return None
    return (latin if script == "latin" else persian) / (latin + persian)


def consistency_reward(completions, prompts=None, **kwargs) -> list[float]:
    """Share of the thinking's digits written in the prompt's script (R1's language
    consistency reward, with digit scripts as the 'languages'). No thinking or no digits: 0.0
    when the prompt has a script (nothing consistent was written), 1.0 otherwise."""
    prompts = _one_per_completion(prompts, completions, "prompts")
    out = []
    for completion, prompt in zip(completions, prompts):
        target = digit_script(_text(prompt))
        thinking = verify(_text(completion)).thinking
        share = script_share(thinking or "", target) if target else None
        out.append(1.0 if target is None else 0.0 if share is None else share)
    return out


def is_mixed(completion) -> bool:
    """True when the thinking contains digits of both scripts (language mixing)."""
    thinking = verify(_text(completion)).thinking or ""
    return any(ch in _LATIN for ch in thinking) and any(ch in _PERSIAN for ch in thinking)


# The registry: a reward is a name and a function with TRL's signature. The GRPO trainer takes
# weights by name and looks the functions up here (or in the `rewards` it is given), so a
# student's own reward plugs in as GRPOTrainer(..., rewards={"mine": my_reward}).
REWARDS = {"accuracy": accuracy_reward, "format": format_reward, "consistency": consistency_reward}
COURSE_REWARDS = dict(REWARDS)   # the course's own, to tell a student's from them

# The named combinations chapter 2's stages use (weights by reward name).
ACCURACY_FORMAT = {"accuracy": 1.0, "format": 0.1}                     # R1-Zero: two rule rewards
WITH_CONSISTENCY = {"accuracy": 1.0, "format": 0.1, "consistency": 2.0}  # R1: + language consistency
