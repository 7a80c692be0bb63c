"""Chapter 2's exercises: every checker accepts a correct solution (the course's own function and
one written from the exercise's text alone), rejects realistic broken ones, and calls a stub
"not done yet"; the experiment runners work at the tiny preset and write nothing to runs/."""

import re

import pytest
import torch

from ch02_r1_pipeline import exercises as ex
from ch02_r1_pipeline import rewards
from ch02_r1_pipeline.grpo_loss import group_advantages, grpo_loss
from ch02_r1_pipeline.runner import Pipeline
from course.exercises import FAILED, NOT_DONE, PASSED
from course.runtime import get_preset

DIGITS = set("0123456789۰۱۲۳۴۵۶۷۸۹")
TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def stub(*args, **kwargs):
    raise NotImplementedError


def status(checker, fn):
    return checker(fn).status


# ------------------------------------------------------------------ 2.1 format reward

def _digits_only(value):
    return all(ch in DIGITS for ch in value)


def format_from_the_text(completions, *, ws=None, length_before_strip=False, number=_digits_only,
                         **kwargs):
    """Written from exercise 2.1's rules only (what a student writes); the keywords plant a bug:
    `ws` the characters taken for whitespace (None: what str.strip() removes), `number` the test
    of rule 5."""
    def well_formed(text):
        if any(text.count(tag) != 1 for tag in TAGS):
            return False
        text = text.strip(ws)
        if not text.startswith("<think>"):
            return False
        rest = text.split("</think>", 1)[1].lstrip(ws)
        if not rest.startswith("<answer>") or not rest.endswith("</answer>"):
            return False
        raw = rest[len("<answer>"):-len("</answer>")]
        value = raw.strip(ws)
        return 1 <= len(raw if length_before_strip else value) <= 12 and number(value)
    return [1.0 if well_formed(c) else 0.0 for c in completions]


def format_no_whitespace(completions, **kwargs):
    """Exact concatenation only: no space allowed between or around the blocks."""
    out = []
    for c in completions:
        ok = (c.startswith("<think>") and "</think><answer>" in c and c.endswith("</answer>")
              and all(c.count(t) == 1 for t in TAGS))
        value = c.split("<answer>")[-1].removesuffix("</answer>") if ok else ""
        out.append(1.0 if ok and value and all(ch in DIGITS for ch in value) else 0.0)
    return out


def format_tags_present(completions, **kwargs):
    """Only checks that the four tags appear."""
    return [1.0 if all(t in c for t in TAGS) else 0.0 for c in completions]


def format_isdigit(completions, **kwargs):
    """str.isdigit() for the answer: accepts other scripts' digits (and superscripts)."""
    out = []
    for text in completions:
        text = text.strip()
        ok = all(text.count(t) == 1 for t in TAGS) and text.startswith("<think>")
        rest = text.split("</think>", 1)[1].lstrip() if ok else ""
        ok = ok and rest.startswith("<answer>") and rest.endswith("</answer>")
        value = rest[len("<answer>"):-len("</answer>")].strip() if ok else ""
        out.append(1.0 if ok and 1 <= len(value) <= 12 and value.isdigit() else 0.0)
    return out


def format_needs_thinking(completions, **kwargs):
    """Rejects an empty thinking block."""
    return [r if "<think></think>" not in c else 0.0
            for r, c in zip(format_from_the_text(completions), completions)]


def format_allows_trailing_text(completions, **kwargs):
    return [format_from_the_text([c.split("</answer>")[0] + "</answer>" if "</answer>" in c else c])[0]
            for c in completions]


def format_returns_bools(completions, **kwargs):
    return [bool(r) for r in format_from_the_text(completions)]


# Versions the first cases let through: a reward the trainer cannot call, and rules broken only by
# newlines, other whitespace, other digits or tags in unusual places.
PERSIAN_TO_LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


def format_without_kwargs(completions):
    """Right, but the trainer calls reward(completions, prompts=..., answer=...)."""
    return format_from_the_text(completions)


def format_by_regex_without_dotall(completions, **kwargs):
    """A regex whose "." stops at a newline inside the thinking."""
    pattern = re.compile(r"\s*<think>.*?</think>\s*<answer>\s*[0-9۰-۹]{1,12}\s*</answer>\s*")
    return [1.0 if pattern.fullmatch(c) and all(c.count(t) == 1 for t in TAGS) else 0.0
            for c in completions]


def format_by_regex_ignoring_case(completions, **kwargs):
    pattern = re.compile(r"\s*<think>.*?</think>\s*<answer>\s*[0-9۰-۹]{1,12}\s*</answer>\s*",
                         re.S | re.I)
    return [1.0 if pattern.fullmatch(c) and all(c.lower().count(t) == 1 for t in TAGS) else 0.0
            for c in completions]


def format_spaces_and_newlines_only(completions, **kwargs):
    """Whitespace taken to be " " and "\\n": a tab, a "\\r" or an ideographic space is not."""
    return format_from_the_text(completions, ws=" \n")


def format_length_before_strip(completions, **kwargs):
    return format_from_the_text(completions, length_before_strip=True)


def _int_of_latin(value):          # int() also takes "+7" and "1_000"
    value = value.translate(PERSIAN_TO_LATIN)
    try:
        return value.isascii() and int(value) >= 0
    except ValueError:
        return False


def format_with_int(completions, **kwargs):
    return format_from_the_text(completions, number=_int_of_latin)


FORMAT_EDGES = [format_without_kwargs, format_by_regex_without_dotall, format_by_regex_ignoring_case,
                format_spaces_and_newlines_only, format_length_before_strip, format_with_int]


@pytest.mark.parametrize("broken", FORMAT_EDGES)
def test_format_checker_rejects_rewards_the_trainer_cannot_call_or_wrong_on_whitespace(broken):
    v = ex.check_format_reward(broken)
    assert v.status == FAILED, broken.__name__


def test_reward_checkers_call_the_reward_as_the_trainer_does(capsys):
    calls = []

    def spy(completions, **kwargs):
        calls.append((completions, kwargs))
        return rewards.consistency_reward(list(completions), prompts=list(kwargs["prompts"]))
    assert status(ex.check_consistency_reward, spy) == PASSED
    completions, kwargs = calls[0]
    assert set(kwargs) == {"prompts", "answer"}
    assert all(type(v) is tuple for v in (completions, *kwargs.values()))
    assert len(kwargs["answer"]) == len(completions) == len(kwargs["prompts"])
    verdict = ex.check_format_reward(format_without_kwargs)
    assert "unexpected keyword argument" in verdict.message and "**kwargs" in verdict.message


def test_format_reward_checker():
    assert status(ex.check_format_reward, rewards.format_reward) == PASSED
    assert status(ex.check_format_reward, format_from_the_text) == PASSED
    for broken in (format_no_whitespace, format_tags_present, format_isdigit, format_needs_thinking,
                   format_allows_trailing_text, format_returns_bools):
        assert status(ex.check_format_reward, broken) == FAILED, broken.__name__
    assert status(ex.check_format_reward, stub) == NOT_DONE


# ------------------------------------------------------------------ 2.2 consistency reward

def _counts(text):
    return sum(ch in "0123456789" for ch in text), sum(ch in "۰۱۲۳۴۵۶۷۸۹" for ch in text)


def _thinking(completion):
    start = completion.find("<think>")
    end = completion.find("</think>", start + 7) if start >= 0 else -1
    return completion[start + 7:end] if end >= 0 else None


def consistency_from_the_text(completions, prompts, tie="latin", part=_thinking, no_digits=0.0,
                              no_script=1.0, **kwargs):
    out = []
    for completion, prompt in zip(completions, prompts):
        latin, persian = _counts(prompt)
        if latin + persian == 0:
            out.append(no_script)
            continue
        script = ("latin" if latin > persian else "persian" if persian > latin else tie)
        thinking = part(completion)
        t_latin, t_persian = _counts(thinking or "")
        if t_latin + t_persian == 0:
            out.append(no_digits)
        else:
            out.append((t_latin if script == "latin" else t_persian) / (t_latin + t_persian))
    return out


def test_consistency_reward_checker():
    check = ex.check_consistency_reward
    assert status(check, rewards.consistency_reward) == PASSED
    assert status(check, consistency_from_the_text) == PASSED
    broken = {
        "ties go to Persian": lambda c, prompts, **kw: consistency_from_the_text(c, prompts, tie="persian"),
        "the whole completion, answer included": lambda c, prompts, **kw: consistency_from_the_text(
            c, prompts, part=lambda text: text),
        "no digits in the thinking pays 1": lambda c, prompts, **kw: consistency_from_the_text(
            c, prompts, no_digits=1.0),
        "a prompt without digits pays 0": lambda c, prompts, **kw: consistency_from_the_text(
            c, prompts, no_script=0.0),
        "all or nothing": lambda c, prompts, **kw: [float(r == 1.0) for r in
                                                    consistency_from_the_text(c, prompts)],
    }
    for name, fn in broken.items():
        assert status(check, fn) == FAILED, name
    assert status(check, stub) == NOT_DONE


def _thinking_by_regex(completion):                 # "." stops at a newline
    found = re.search(r"<think>(.*?)</think>", completion)
    return found.group(1) if found else None


def _thinking_to_the_first_close(completion):       # the first </think> anywhere, even before <think>
    start, end = completion.find("<think>"), completion.find("</think>")
    return completion[start + 7:end] if start >= 0 and end >= 0 else None


def _thinking_after_the_last_open(completion):      # split: the last <think> before the close
    if "<think>" not in completion or "</think>" not in completion.split("<think>", 1)[1]:
        return None
    return completion.split("</think>")[0].split("<think>")[-1]


def consistency_script_of_the_first_digit(completions, prompts, **kwargs):
    """The prompt's script read off its first digit, not its majority."""
    out = []
    for completion, prompt in zip(completions, prompts):
        first = next((ch for ch in prompt if ch in DIGITS), None)
        latin, persian = _counts(_thinking(completion) or "")
        if first is None:
            out.append(1.0)
        elif latin + persian == 0:
            out.append(0.0)
        else:
            out.append((latin if first in "0123456789" else persian) / (latin + persian))
    return out


def consistency_with_isdigit(completions, prompts, **kwargs):
    """str.isdigit() for Persian: any non-Latin digit (٣, ²) counts as Persian."""
    def counts(text):
        return (sum(ch in "0123456789" for ch in text),
                sum(ch.isdigit() and ch not in "0123456789" for ch in text))
    out = []
    for completion, prompt in zip(completions, prompts):
        latin, persian = counts(prompt)
        thinking = _thinking(completion)
        t_latin, t_persian = counts(thinking or "")
        if latin + persian == 0:
            out.append(1.0)
        elif t_latin + t_persian == 0:
            out.append(0.0)
        else:
            out.append((t_latin if latin >= persian else t_persian) / (t_latin + t_persian))
    return out


CONSISTENCY_EDGES = {
    "no **kwargs: the trainer also passes answer=": lambda completions, prompts: consistency_from_the_text(
        completions, prompts),
    "a regex without re.S": lambda c, prompts, **kw: consistency_from_the_text(c, prompts,
                                                                               part=_thinking_by_regex),
    "the first </think> anywhere": lambda c, prompts, **kw: consistency_from_the_text(
        c, prompts, part=_thinking_to_the_first_close),
    "the last <think> before the close": lambda c, prompts, **kw: consistency_from_the_text(
        c, prompts, part=_thinking_after_the_last_open),
    "the prompt's first digit, not its majority": consistency_script_of_the_first_digit,
    "str.isdigit() digits": consistency_with_isdigit,
}


@pytest.mark.parametrize("name", CONSISTENCY_EDGES)
def test_consistency_checker_rejects_rewards_wrong_on_tag_orders_newlines_or_digits(name):
    assert status(ex.check_consistency_reward, CONSISTENCY_EDGES[name]) == FAILED


# ------------------------------------------------------------------ 2.3 group advantages

def test_group_advantages_checker():
    check = ex.check_group_advantages

    def from_the_text(r):
        return (r - r.mean(dim=1, keepdim=True)) / (r.std(dim=1, keepdim=True) + 1e-4)

    broken = {
        "std without eps": lambda r: (r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True),
        "population std": lambda r: (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True,
                                                                            unbiased=False) + 1e-4),
        "the whole batch, not each group": lambda r: (r - r.mean()) / (r.std() + 1e-4),
        "eps inside the square root": lambda r: (r - r.mean(1, keepdim=True)) / torch.sqrt(
            r.var(1, keepdim=True) + 1e-4),
        "mean without keepdim": lambda r: (r - r.mean(1)) / (r.std(1) + 1e-4),
        "centred only (no std)": lambda r: r - r.mean(1, keepdim=True),
    }
    assert status(check, group_advantages) == PASSED
    assert status(check, from_the_text) == PASSED
    for name, fn in broken.items():
        assert status(check, fn) == FAILED, name
    assert status(check, stub) == NOT_DONE


def advantages_centred_in_place(r):          # right values, but the caller's rewards are changed
    r -= r.mean(dim=1, keepdim=True)
    return r / (r.std(dim=1, keepdim=True) + 1e-4)


def advantages_all_in_place(r):
    std = r.std(dim=1, keepdim=True)
    return r.sub_(r.mean(dim=1, keepdim=True)).div_(std + 1e-4)


def advantages_nan_to_zero(r):               # 0 / 0 patched afterwards: no eps elsewhere
    return torch.nan_to_num((r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True))


def advantages_std_clamped(r):               # max(std, 1e-4), not std + 1e-4
    return (r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True).clamp(min=1e-4)


ADVANTAGE_EDGES = [advantages_centred_in_place, advantages_all_in_place, advantages_nan_to_zero,
                   advantages_std_clamped]


@pytest.mark.parametrize("broken", ADVANTAGE_EDGES)
def test_group_advantages_checker_rejects_versions_that_edit_the_rewards_or_move_the_eps(broken):
    v = ex.check_group_advantages(broken)
    assert v.status == FAILED, v
    if "in_place" in broken.__name__:
        assert "changed its input `r` (argument 1) in place" in v.message


# ------------------------------------------------------------------ 2.4 GRPO loss

def loss_from_the_text(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type, *,
                       lo=None, hi=None, pick=torch.minimum, sign=-1.0, ratio_fn=None,
                       dapo_count=None, grpo_mode="per sequence"):
    ratio = torch.exp(logp - old_logp) if ratio_fn is None else ratio_fn(logp, old_logp)
    adv = advantages[:, None]
    lo = 1 - eps_low if lo is None else lo
    hi = 1 + eps_high if hi is None else hi
    per_token = sign * pick(ratio * adv, torch.clamp(ratio, lo, hi) * adv) * mask
    if loss_type == "grpo":
        if grpo_mode == "per sequence":
            return (per_token.sum(1) / mask.sum(1).clamp(min=1)).mean()
        return per_token.sum() / mask.sum().clamp(min=1)
    if loss_type == "dapo":
        count = mask.sum().clamp(min=1) if dapo_count is None else dapo_count(mask)
        return per_token.sum() / count
    return per_token.sum() / mask.numel()


def test_grpo_loss_checker():
    check = ex.check_grpo_loss

    def reference(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type):
        return grpo_loss(logp, old_logp, advantages, mask, eps_low=eps_low, eps_high=eps_high,
                         loss_type=loss_type)[0]

    def swap(lp, old, adv, mask, el, eh, lt):
        return loss_from_the_text(lp, old, adv, mask, el, eh, lt, lo=1 - eh, hi=1 + el)

    broken = {
        "clipping on the wrong side (eps_low and eps_high swapped)": swap,
        "max instead of min": lambda *a: loss_from_the_text(*a, pick=torch.maximum),
        "no minus sign (gradient ascent on the loss)": lambda *a: loss_from_the_text(*a, sign=1.0),
        "no ratio (logp * A)": lambda *a: loss_from_the_text(*a, ratio_fn=lambda lp, old: lp),
        "dapo averages over padding too": lambda *a: loss_from_the_text(
            *a, dapo_count=lambda mask: mask.numel()),
        "grpo as a token average": lambda *a: loss_from_the_text(*a, grpo_mode="tokens"),
        "a detached loss": lambda *a: loss_from_the_text(*a).detach(),
        "a Python float": lambda *a: loss_from_the_text(*a).item(),
        "the ratio detached": lambda *a: loss_from_the_text(
            *a, ratio_fn=lambda lp, old: torch.exp(lp - old).detach()),
    }
    assert status(check, reference) == PASSED
    assert status(check, loss_from_the_text) == PASSED
    for name, fn in broken.items():
        assert status(check, fn) == FAILED, name
    assert status(check, stub) == NOT_DONE


def loss_dapo_without_the_floor(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type):
    """'dapo' divides by the token count, with no max(count, 1): 0 / 0 on an all-padding batch."""
    if loss_type != "dapo":
        return loss_from_the_text(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type)
    return loss_from_the_text(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type,
                              dapo_count=lambda m: m.sum())


def loss_ratio_of_probabilities(*args):
    """exp(logp) / exp(old_logp): both underflow to 0 for unlikely tokens, 0 / 0."""
    return loss_from_the_text(*args, ratio_fn=lambda lp, old: lp.exp() / old.exp())


def loss_masks_old_logp_in_place(logp, old_logp, advantages, mask, *rest):
    old_logp.masked_fill_(mask == 0, 0.0)      # "tidies" the padding of the caller's tensor
    return loss_from_the_text(logp, old_logp, advantages, mask, *rest)


def _average(per_token, mask, loss_type):
    if loss_type == "grpo":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()
    if loss_type == "dapo":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    return (per_token * mask).sum() / mask.numel()


def loss_reshapes_advantages_in_place(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type):
    adv = advantages.unsqueeze_(1)             # (N,) -> (N, 1), in the caller's tensor
    per_token = -torch.minimum(torch.exp(logp - old_logp) * adv,
                               torch.clamp(torch.exp(logp - old_logp), 1 - eps_low, 1 + eps_high) * adv)
    return _average(per_token, mask, loss_type)


LOSS_EDGES = {
    "dapo without max(count, 1)": loss_dapo_without_the_floor,
    "the ratio as a quotient of probabilities": loss_ratio_of_probabilities,
    "old_logp's padding zeroed in place": loss_masks_old_logp_in_place,
    "advantages unsqueezed in place": loss_reshapes_advantages_in_place,
}


@pytest.mark.parametrize("name", LOSS_EDGES)
def test_grpo_loss_checker_rejects_losses_wrong_on_empty_masks_unlikely_tokens_or_their_inputs(name):
    v = ex.check_grpo_loss(LOSS_EDGES[name])
    assert v.status == FAILED, (name, v)


def test_a_failing_loss_names_the_part_that_differs_with_eight_digits():
    def slightly_off_gradient(logp, *rest):    # the value is right, the gradient 1e-4 off
        loss = loss_from_the_text(logp, *rest)
        return loss + 1e-4 * (logp - logp.detach()).sum()
    v = ex.check_grpo_loss(slightly_off_gradient)
    assert v.status == FAILED
    assert "differs from the reference in: gradient of the loss wrt logp." in v.message, v.message
    assert "[loss (value)]" in v.message and "[gradient of the loss wrt logp]" in v.message
    expected = v.message.split("expected:")[1].split("got:")[0]
    got = v.message.split("got:")[1]
    assert re.search(r"\d\.\d{6,}", got) and expected != got    # 8 significant digits, and apart


def test_checkers_are_quick_and_report_the_first_failing_case(capsys):
    verdict = ex.check_group_advantages(lambda r: (r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True))
    text = str(verdict)
    assert "Case 1" in text and "expected" in text and "got" in text and "nan" in text
    verdict = ex.check_grpo_loss(lambda *a: loss_from_the_text(*a).item())
    assert "0-dim tensor" in str(verdict)
    ex.check_consistency_reward(stub)
    assert "not done yet" in capsys.readouterr().out


def test_cases_are_the_same_every_time():
    first, second = ex._format_cases(), ex._format_cases()
    assert first == second
    a, b = ex._loss_cases(), ex._loss_cases()
    assert all(torch.equal(x, y) for ca, cb in zip(a, b) for x, y in zip(ca[:4], cb[:4]))


# ------------------------------------------------------------------ the experiments (tiny preset)

@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    pipeline = Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False)
    pipeline.model("base")     # chapter 1's base at the tiny preset (trained here, in seconds)
    return pipeline, root


def test_experiments_run_at_the_tiny_preset_and_write_nothing(tiny_pipeline):
    pipeline, root = tiny_pipeline
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    steps = ex.EXPERIMENT_SIZES["tiny"]["steps"]
    results = [ex.group_size_experiment(pipeline, 3, progress=False),
               ex.kl_experiment(pipeline, 0.5, progress=False),
               ex.consistency_experiment(pipeline, 1.0, progress=False)]
    for result, exercise in zip(results, ("2.5", "2.6", "2.7")):
        assert result.exercise == exercise
        assert result.measured in ("higher", "lower", "about the same")
        assert result.measured == ex.direction(result.before, result.after, result.tolerance)
        assert len(result.runs) == 2
        for run in result.runs.values():
            assert len(run.history) == steps
            assert [p["step"] for p in run.points] == list(range(steps + 1))
            assert all(0.0 <= p["accuracy"] <= 1.0 and p["kl"] >= -1e-6 for p in run.points)
        fig = ex.plot_experiment(result)
        assert len(fig.axes) == 3
        assert "Exercise" in str(result)
    # the changed settings reached the runs
    assert results[0].runs["G=3"].config.group_size == 3
    assert results[1].runs["beta=0.5"].config.beta == 0.5
    assert results[2].runs["+ 1 consistency"].config.reward_weights["consistency"] == 1.0
    # one baseline, shared; and KL to the base is 0 before the first step
    baselines = [next(iter(r.runs.values())) for r in results]
    assert baselines[0].history is baselines[1].history is baselines[2].history
    assert baselines[0].points[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    # in memory only: no checkpoint, no state file, nothing new under runs/
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_experiment_settings_are_checked(tiny_pipeline):
    pipeline, _ = tiny_pipeline
    with pytest.raises(ValueError, match="group_size"):
        ex.group_size_experiment(pipeline, 1, progress=False)
    with pytest.raises(ValueError, match="beta must be a float"):
        ex.kl_experiment(pipeline, "a lot", progress=False)
    with pytest.raises(ValueError, match="consistency must be a float"):
        ex.consistency_experiment(pipeline, None, progress=False)
