"""Chapter 3's exercises: checkers for the pieces the chapter builds, and its experiments.

Build it (the student's function against the course's own, on random cases):

    3.1  majority vote (self-consistency)       reference: voting.majority_vote
    3.2  the unbiased pass@k estimator          reference: voting.pass_at_k
    3.3  best-of-N with a verifier's scores     reference: voting.best_of_n
    3.4  a budget-forcing ceiling (s1)          reference: budget_forcing.answer_with_budget

Experiments (predict first, then run; each reads chapter 2's cached models, never trains or
overwrites them):

    3.5  voting_temperature   majority@N at a temperature of your choice against T = 1
    3.6  budget_ceiling       R1 with its thinking cut at a budget of your choice
    3.7  beam_width           beam search with a beam of your choice against the chapter's

The framework (`check`, `ready`, `compare_prediction`, `direction`, `Verdict`) is chapter 1's,
re-exported here so a notebook needs one import.
"""

from __future__ import annotations

import numbers
import random
from collections import defaultdict
from typing import Callable

import torch

from ch01_what_is_reasoning.arithmetic import (
    ANSWER,
    END_ANSWER,
    END_THINK,
    PERSIAN_DIGITS,
    THINK,
    random_problem,
)
from ch01_what_is_reasoning.model import GPT, GPTConfig
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from course.exercises import (  # noqa: F401  (re-exported for the notebooks)
    FAILED,
    NOT_DONE,
    PASSED,
    Verdict,
    check,
    compare_prediction,
    direction,
    ready,
    same,
)
from course.overrides import override

from .beam_search import beam_search_problems
from .budget_forcing import answer_with_budget
from .chapter import SETTINGS
from .scaling import sample_pool, scaling_curves
from .voting import best_of_n, majority_vote, pass_at_k

NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------------ 3.1 majority vote

def _majority_cases(seed: int = 0) -> list:
    fixed = [
        [3, 5, 5, 3, 5],          # a plain majority
        [5, 3, 3, 5],             # a tie: the first seen (5), not the smallest, not the last
        [1, 2, 2, 1],             # a tie: 1 was seen first, although 2 reached two votes first
        [None, None, 4],          # None never votes, however many there are
        [None, 6, None, 1, None],
        [0, 5, 0],                # 0 is an answer like any other (not "no answer")
        [None, 0],
        [],                       # nothing to vote on
        [None, None],             # no answer at all
        [7],
        [-2, 3, -2],
        [9, 9, 9, 4, 4, 4, 4, 9],  # a tie at four votes each: 9 was first
    ]
    rng = random.Random(seed)
    cases = [(answers,) for answers in fixed]
    for _ in range(40):  # short lists over a few values: many ties, some Nones
        values = list(range(rng.randint(-2, 3), rng.randint(4, 12)))
        cases.append(([None if rng.random() < 0.25 else rng.choice(values)
                       for _ in range(rng.randint(0, 12))],))
    return cases


def check_majority_vote(majority_vote_fn: Callable) -> Verdict:
    """Exercise 3.1: majority vote over parsed answers (ints or None)."""
    return check("3.1", majority_vote_fn, lambda answers: majority_vote(list(answers)),
                 _majority_cases(), show_case=lambda case: f"answers={case[0]!r}")


# ------------------------------------------------------------------ 3.2 pass@k

def _pass_at_k_cases(seed: int = 0) -> list:
    fixed = [
        (10, 0, 1), (10, 0, 10),            # no correct sample: 0
        (10, 10, 1), (4, 4, 4),             # every sample correct: 1
        (10, 3, 1), (16, 5, 1),             # k = 1 is c / n
        (5, 3, 3), (16, 15, 2), (10, 5, 6), (8, 7, 8),   # n - c < k: every draw has a right one
        (10, 5, 5), (16, 1, 16), (16, 1, 15),            # n - c = k, and one below
        (10, 2, 3), (16, 4, 8), (1, 0, 1), (1, 1, 1),
        (200, 17, 100), (100, 3, 50),       # big counts: exact enough, no overflow
    ]
    rng = random.Random(seed)
    cases = list(fixed)
    for _ in range(40):
        n = rng.randint(1, 40)
        cases.append((n, rng.randint(0, n), rng.randint(1, n)))
    return cases


def check_pass_at_k(pass_at_k_fn: Callable) -> Verdict:
    """Exercise 3.2: the unbiased pass@k estimate from n samples of which c are correct."""
    return check("3.2", pass_at_k_fn, pass_at_k, _pass_at_k_cases(),
                 show_case=lambda case: "n={}, c={}, k={}".format(*case))


# ------------------------------------------------------------------ 3.3 best-of-N

def done(answer, thinking: str = "x") -> str:
    """A finished completion that states `answer` (an int, or a string such as Persian digits)."""
    return f"{THINK}{thinking}{END_THINK}{ANSWER}{answer}{END_ANSWER}"


def _persian(n: int) -> str:
    return "".join(PERSIAN_DIGITS[int(d)] for d in str(n))


def _best_of_n_cases(seed: int = 0) -> list:
    junk = f"{THINK}3+4 = {END_THINK}"   # no answer: it has no votes
    fixed = [
        ([done(1), done(2), done(3)], [0.2, 0.9, 0.5]),             # the highest, not the lowest
        ([done(4), done(7), done(7), done(4), done(7)], [1.0, 1.0, 0.0, 1.0, 0.0]),  # 7 has 3 votes
        ([done(3), done(4), done(4), done(4)], [1.0, 1.0, 0.0, 0.0]),  # votes among ALL samples
        ([done(4), done(7)], [1.0, 1.0]),                            # a full tie: the first
        ([junk, done(5), junk], [0.5, 0.5, 0.5]),                    # no answer never votes
        ([done(6), done(_persian(6)), done(2)], [0.0, 0.5, 0.5]),    # ۶ is 6: two votes for 6
        ([done(1), done(2)], [NAN, 0.3]),                            # NaN: worse than any number
        ([done(1), done(2)], [0.3, NAN]),
        ([done(2), done(3), done(3)], [NAN, NAN, NAN]),              # all NaN: all tie
        ([done(1), done(2), done(2)], [-1.0, -0.5, -2.0]),           # negative scores
        ([done(8)], [0.0]),                                          # one sample
        ([done(5), done(9), done(9), done(5)], [0.75, 0.25, 0.25, 0.75]),  # 5 and 9 tie on votes
        # -inf is a number: worse than any other, better than NaN (NaN is not -inf)
        ([done(1), done(2)], [NAN, -INF]),
        ([done(7), done(8), done(8)], [-INF, NAN, NAN]),
        ([done(3), done(4), done(4)], [NAN, INF, 0.5]),
        # an answer is what verify reads: whitespace around it is fine, ٣ is no digit of ours
        ([done(4), done(" 9 "), done("\n9\n")], [1.0, 1.0, 0.0]),
        ([done("٣"), done("٣"), done(5)], [1.0, 1.0, 1.0]),
        ([done(2), done("\t2"), done(3), done(3)], [0.5, 0.5, 0.5, 0.5]),
    ]
    rng = random.Random(seed)
    cases = [(list(c), list(s)) for c, s in fixed]
    for _ in range(34):
        n = rng.randint(1, 8)
        completions = []
        for _ in range(n):
            r = rng.random()
            value = rng.randint(1, 5)
            completions.append(junk if r < 0.15 else done(_persian(value)) if r < 0.3 else done(value))
        scores = [NAN if rng.random() < 0.1 else rng.choice([0.0, 0.25, 0.5, 1.0])
                  for _ in range(n)]
        cases.append((completions, scores))
    return cases


def check_best_of_n(best_of_n_fn: Callable) -> Verdict:
    """Exercise 3.3: the index of the best-scored completion, with the course's tie rule."""
    return check("3.3", best_of_n_fn, lambda c, s: best_of_n(list(c), list(s)), _best_of_n_cases(),
                 show_case=lambda case: f"completions={case[0]!r},\n            scores={case[1]!r}")


# ------------------------------------------------------------------ 3.4 a budget ceiling

class _PromptOnly:
    """What `answer_with_budget` needs of a problem: its prompt (and no answer key)."""

    def __init__(self, prompt: str):
        self.text, self.answer = prompt, None

    def prompt(self) -> str:
        return self.text


def reference_answer_with_ceiling(model, tokenizer, prompt: str, budget: int) -> str:
    """The course's budget forcing (a ceiling, greedy, no floor), for one prompt."""
    return answer_with_budget(model, tokenizer, [_PromptOnly(prompt)], budget).completions[0]


def _random_models(tokenizer, n: int = 8) -> list[GPT]:
    """Small random GPTs with a 128-token context. Model k's `</think>` is made k * 30% more
    likely, so some close their thinking early (a few at once) and others think to the budget;
    one writes `<eos>` inside its thinking."""
    models = []
    for k in range(n):
        torch.manual_seed(k)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=128, n_layer=2,
                              n_head=2, n_embd=32)).eval()
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(6.0)   # sharper outputs: greedy choices are not near-ties
            model.wte.weight[tokenizer.token_id(END_THINK)] *= 1 + 0.3 * k
        model.exercise_label = f"random GPT #{k}"
        models.append(model)
    return models


def _ceiling_cases(seed: int = 0) -> list:
    tokenizer = CharTokenizer()
    models = _random_models(tokenizer)
    rng = random.Random(seed)

    def prompt() -> str:
        return random_problem(rng, rng.randint(1, 5), rng.choice(["latin", "persian"])).prompt()

    # budget 0; budget 1; a model that closes at once; one that closes after a few tokens;
    # one that writes <eos> inside its thinking (it must stay in the text, verbatim)
    cases = [(models[0], tokenizer, prompt(), 0), (models[2], tokenizer, prompt(), 1),
             (models[4], tokenizer, prompt(), 20), (models[1], tokenizer, "3+4*2?", 40),
             (models[1], tokenizer, "(3+4)*2-5?", 40), (models[5], tokenizer, prompt(), 30),
             (models[3], tokenizer, prompt(), 7)]
    for _ in range(20):
        cases.append((rng.choice(models), tokenizer, prompt(), rng.randint(0, 48)))
    return cases


def _show_ceiling_case(case) -> str:
    model, _, prompt, budget = case
    return f"model={getattr(model, 'exercise_label', 'a model')}, prompt={prompt!r}, budget={budget}"


def check_budget_ceiling(answer_with_ceiling: Callable) -> Verdict:
    """Exercise 3.4: think greedily for at most `budget` tokens, then force `</think><answer>`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny models: threads only add overhead (100x on a busy 2-core CPU)
    try:
        return check("3.4", answer_with_ceiling, reference_answer_with_ceiling, _ceiling_cases(),
                     show_case=_show_ceiling_case)
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------ the experiments' models

_PIPELINE = None


def chapter_pipeline():
    """Chapter 2's pipeline at the default preset, in the default runs/ folder, opened once.

    No settings are changed, so every model is *loaded* from runs/ch02 (trained there first
    only if it is missing, exactly as the chapter notebook would): an experiment never
    retrains or overwrites a chapter model.
    """
    global _PIPELINE
    if _PIPELINE is None:
        from ch02_r1_pipeline.runner import Pipeline
        from course.runtime import get_preset, pick_device
        device = pick_device()
        _PIPELINE = Pipeline(get_preset(None, device), device, progress=False)
    return _PIPELINE


def _setup(model, tokenizer, problems, model_name: str, every: int):
    """The given model, tokenizer and problems, or chapter 2's: its `model_name` and every
    `every`-th problem of its held-out test set (an even share of 3, 4 and 5 operations)."""
    if model is None or tokenizer is None or problems is None:
        pipeline = chapter_pipeline()
        model = pipeline.model(model_name) if model is None else model
        tokenizer = tokenizer or pipeline.tokenizer
        problems = pipeline.test[::every] if problems is None else problems
        preset = pipeline.preset.name
    else:
        preset = "tiny"
    return model, tokenizer, list(problems), preset


def _check_count(name: str, value, least: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")


# ------------------------------------------------------------------ 3.5 voting and temperature

def voting_temperature(temperature: float, *, baseline: float = 1.0, n_samples: int = 16,
                       every: int = 3, model=None, tokenizer=None, problems=None,
                       model_name: str = "base", seed: int = 0, progress: bool = True) -> dict:
    """Majority vote at `temperature` against `baseline` (chapter 3 samples at T = 1).

    For each temperature: a pool of `n_samples` free-style samples per problem (the base model,
    chapter 2's held-out problems, every `every`-th one: 200 of 600), read as in the chapter:
    majority@N for N = 1, 2, 4, ... and the unbiased pass@N. `gain` is what voting adds over
    one sample: majority@n_samples - pass@1.

    Returns {"ns", "problems", "yours": {...}, "baseline": {...}}, each side with
    "temperature", "majority" {N: accuracy}, "pass_at_n" {N: accuracy}, "gain", "seconds".
    """
    for name, value in (("temperature", temperature), ("baseline", baseline)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 3:
            raise ValueError(f"{name} must be a number in (0, 3] (0 would be greedy: every sample "
                             f"the same), got {value!r}")
    _check_count("n_samples", n_samples, 1)
    model, tokenizer, problems, _ = _setup(model, tokenizer, problems, model_name, every)
    ns = [n for n in (1, 2, 4, 8, 16, 32, 64) if n < n_samples] + [n_samples]
    out = {"ns": ns, "problems": len(problems)}
    runs = {}
    for side, t in (("baseline", float(baseline)), ("yours", float(temperature))):
        if t not in runs:   # the same temperature twice: one pool
            pool = sample_pool(model, tokenizer, problems, n_samples, temperature=t, seed=seed,
                               progress=progress)
            curves = scaling_curves(pool.prompts, pool.completions, pool.expected, ns)
            runs[t] = {"temperature": t, "majority": curves["majority"],
                       "pass_at_n": curves["pass_at_n"],
                       "gain": curves["majority"][n_samples] - curves["pass_at_n"][1],
                       "seconds": pool.seconds}
        out[side] = runs[t]
    return out


# ------------------------------------------------------------------ 3.6 a budget ceiling

def budget_ceiling(budget: int, *, model=None, tokenizer=None, problems=None,
                   model_name: str = "r1", every: int = 1, progress: bool = True) -> dict:
    """R1 (greedy) with its thinking cut at `budget` tokens, next to no thinking (budget 0) and
    the chapter's largest budget (room for every trace), on chapter 2's whole test set.

    The budgets go through the chapter's own setting (`override(SETTINGS[preset],
    {"budgets": ...})`). Returns {"budgets": [0, budget, full], "accuracy" {B: acc},
    "by_ops" {B: {n_ops: acc}}, "mean_thinking_tokens" {B: tokens}, "thinking_by_ops"
    {B: {n_ops: tokens}}, "problems"}.
    """
    _check_count("budget", budget, 0)
    model, tokenizer, problems, preset = _setup(model, tokenizer, problems, model_name, every)
    full = max(SETTINGS[preset].budgets)
    settings = override(SETTINGS[preset], {"budgets": tuple(sorted({0, int(budget), full}))})
    ops = [p.n_ops for p in problems]
    out = {"budgets": list(settings.budgets), "accuracy": {}, "by_ops": {},
           "mean_thinking_tokens": {}, "thinking_by_ops": {}, "problems": len(problems)}
    from tqdm.auto import tqdm
    for b in tqdm(settings.budgets, desc="budgets", disable=not progress, leave=False):
        run = answer_with_budget(model, tokenizer, problems, b)
        right, thought = defaultdict(list), defaultdict(list)
        for n, v, t in zip(ops, run.verdicts, run.thinking_tokens):
            right[n].append(v.correct)
            thought[n].append(t)
        out["accuracy"][b] = run.accuracy
        out["mean_thinking_tokens"][b] = run.mean_thinking_tokens
        out["by_ops"][b] = {n: sum(r) / len(r) for n, r in sorted(right.items())}
        out["thinking_by_ops"][b] = {n: sum(t) / len(t) for n, t in sorted(thought.items())}
    return out


# ------------------------------------------------------------------ 3.7 the beam's width

MAX_BEAM_WORK = 32   # width x expansions: (4, 4) takes ~15 s on 100 problems on a 2-core CPU


def beam_width(beam: tuple, *, baseline: tuple | None = None, model=None, tokenizer=None,
               problems=None, model_name: str = "base", every: int = 6, seed: int = 0,
               progress: bool = True) -> dict:
    """Verifier-guided beam search on the base with `beam` = (width, expansions), against the
    chapter's own beam (its `beam` setting, (4, 4) at the cpu preset), on every `every`-th
    held-out problem (100 of 600).

    The new beam goes through the chapter's setting (`override(SETTINGS[preset], {"beam": beam})`).
    Returns {"problems", "yours": {...}, "baseline": {...}}, each side with "beam",
    "accuracy" and "mean_tokens" (tokens sampled per problem: the search's cost).
    """
    if not isinstance(beam, (tuple, list)) or len(beam) != 2:
        raise ValueError(f"beam must be (width, expansions), e.g. (2, 2), got {beam!r}")
    for name, value in zip(("width", "expansions"), beam):
        _check_count(f"the beam's {name}", value, 1)
    if beam[0] * beam[1] > MAX_BEAM_WORK:
        raise ValueError(f"beam {tuple(beam)} samples {beam[0] * beam[1]} steps per step of the "
                         f"search; keep width x expansions <= {MAX_BEAM_WORK} so it runs in about "
                         f"a minute on a CPU")
    model, tokenizer, problems, preset = _setup(model, tokenizer, problems, model_name, every)
    mine = override(SETTINGS[preset], {"beam": tuple(int(v) for v in beam)}).beam
    base = tuple(baseline) if baseline is not None else SETTINGS[preset].beam
    out = {"problems": len(problems)}
    runs = {}
    for side, (width, expansions) in (("baseline", base), ("yours", mine)):
        if (width, expansions) not in runs:
            run = beam_search_problems(model, tokenizer, problems, beam_width=width,
                                       expansions=expansions, progress=progress,
                                       generator=torch.Generator().manual_seed(seed))
            runs[width, expansions] = {"beam": (width, expansions), "accuracy": run.accuracy,
                                       "mean_tokens": run.mean_tokens}
        out[side] = runs[width, expansions]
    return out
