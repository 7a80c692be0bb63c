"""Chapter 4's exercises: every checker passes the course's function and a solution written from
scratch, fails realistic broken versions and calls a stub "not done yet"; the experiment runners
work at the tiny preset and write nothing under runs/."""

from __future__ import annotations

import math
import re

import pytest
import torch

from ch01_what_is_reasoning.arithmetic import WAIT
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.runner import Pipeline
from ch03_four_methods.training_costs import spent_flops
from ch04_budget import exercises as ex
from ch04_budget.costs import CPU_PRICE_PER_HOUR, GPU_PEAK_FLOPS, GPU_PRICE_PER_HOUR, GPU_UTILIZATION
from ch04_budget.journey import journey_pair, recovery_scores
from course.exercises import FAILED, NOT_DONE, PASSED
from course.runtime import get_preset


def stub(*args):
    raise NotImplementedError


def status(checker, fn) -> str:
    verdict = checker(fn)
    assert verdict.status in (PASSED, FAILED, NOT_DONE) and str(verdict)
    return verdict.status


# ------------------------------------------------------------------ 4.1 the FLOPs of a run

def flops_solution(spent):
    n = spent["params"]
    forward = spent["prompt_tokens"] + spent["generated_tokens"] + spent["scored_tokens"]
    return 2.0 * n * forward + 6.0 * n * spent["trained_tokens"]


BROKEN_FLOPS = {
    "training at 2N": lambda s: 2 * s["params"] * (s["prompt_tokens"] + s["generated_tokens"]
                                                   + s["scored_tokens"] + s["trained_tokens"]),
    "prompt tokens forgotten": lambda s: 2 * s["params"] * (s["generated_tokens"] + s["scored_tokens"])
    + 6 * s["params"] * s["trained_tokens"],
    "scored tokens forgotten": lambda s: 2 * s["params"] * (s["prompt_tokens"] + s["generated_tokens"])
    + 6 * s["params"] * s["trained_tokens"],
    "generated tokens at 6N": lambda s: 2 * s["params"] * (s["prompt_tokens"] + s["scored_tokens"])
    + 6 * s["params"] * (s["generated_tokens"] + s["trained_tokens"]),
    "trained tokens also counted as a forward (8N)": lambda s: flops_solution(s)
    + 2 * s["params"] * s["trained_tokens"],
}


def flops_pops_the_params(spent):        # right, but the caller's record loses "params"
    n = spent.pop("params")
    return 2.0 * n * (spent["prompt_tokens"] + spent["generated_tokens"] + spent["scored_tokens"]) \
        + 6.0 * n * spent["trained_tokens"]


def flops_writes_its_total(spent):       # right, but it adds a key to the caller's record
    spent["flops"] = flops_solution(spent)
    return spent["flops"]


FLOPS_EDGES = {"pops 'params' from the record": flops_pops_the_params,
               "writes 'flops' into the record": flops_writes_its_total}


@pytest.mark.parametrize("bug", FLOPS_EDGES)
def test_flops_checker_fails_versions_that_edit_the_record(bug):
    verdict = ex.check_run_flops(FLOPS_EDGES[bug])
    assert verdict.status == FAILED and "changed its input `spent`" in verdict.message


def test_flops_checker_passes_the_course_function_and_a_solution():
    assert status(ex.check_run_flops, spent_flops) == PASSED
    assert status(ex.check_run_flops, flops_solution) == PASSED
    assert status(ex.check_run_flops, lambda s: int(flops_solution(s))) == PASSED   # int or float


@pytest.mark.parametrize("bug", BROKEN_FLOPS)
def test_flops_checker_fails_broken_versions(bug):
    assert status(ex.check_run_flops, BROKEN_FLOPS[bug]) == FAILED


def test_flops_checker_calls_a_stub_not_done():
    assert status(ex.check_run_flops, stub) == NOT_DONE


# ------------------------------------------------------------------ 4.2 the price of a run

PRICE = {"cpu": CPU_PRICE_PER_HOUR, "cuda": GPU_PRICE_PER_HOUR, "mps": CPU_PRICE_PER_HOUR}


def price_solution(flops, seconds, device):
    kind = device.split(":")[0]
    if kind not in PRICE:
        raise ValueError(f"no price for {device!r}")
    gpu_hours = flops / (GPU_PEAK_FLOPS * GPU_UTILIZATION) / 3600
    return gpu_hours * GPU_PRICE_PER_HOUR, seconds / 3600 * PRICE[kind]


def _price_with(peak=GPU_PEAK_FLOPS * GPU_UTILIZATION, per=3600, prices=None, strip=True,
                unknown=None):
    prices = PRICE if prices is None else prices

    def price(flops, seconds, device):
        kind = device.split(":")[0] if strip else device
        if kind not in prices:
            if unknown is None:
                raise ValueError(device)
            return flops / peak / 3600 * GPU_PRICE_PER_HOUR, seconds / per * unknown
        return flops / peak / 3600 * GPU_PRICE_PER_HOUR, seconds / per * prices[kind]
    return price


BROKEN_PRICE = {
    "utilisation forgotten (the full peak)": _price_with(peak=GPU_PEAK_FLOPS),
    "seconds not turned into hours": _price_with(per=1),
    "'cuda:0' not recognised as a GPU": _price_with(strip=False),
    "mps priced as a data-centre GPU": _price_with(prices={**PRICE, "mps": GPU_PRICE_PER_HOUR}),
    "unknown device priced as the CPU": _price_with(unknown=CPU_PRICE_PER_HOUR),
}


def _price_by(kind_of):
    def price(flops, seconds, device):
        kind = kind_of(device)
        if kind not in PRICE:
            raise ValueError(f"no price for {device!r}")
        gpu_hours = flops / (GPU_PEAK_FLOPS * GPU_UTILIZATION) / 3600
        return gpu_hours * GPU_PRICE_PER_HOUR, seconds / 3600 * PRICE[kind]
    return price


PRICE_EDGES = {
    "'cuda*' is a GPU, the rest must be exactly 'cpu' or 'mps'": _price_by(
        lambda d: "cuda" if d.startswith("cuda") else d),
    "device names lower-cased": _price_by(lambda d: d.lower().split(":")[0]),
    "'cuda' anywhere in the name": _price_by(lambda d: "cuda" if "cuda" in d else d.split(":")[0]),
}


@pytest.mark.parametrize("bug", PRICE_EDGES)
def test_price_checker_fails_versions_that_read_device_names_loosely(bug):
    assert status(ex.check_price, PRICE_EDGES[bug]) == FAILED


def test_price_checker_passes_the_course_function_and_a_solution():
    assert status(ex.check_price, ex._price_reference) == PASSED
    assert status(ex.check_price, price_solution) == PASSED
    assert status(ex.check_price, lambda *a: list(price_solution(*a))) == PASSED   # a list is fine


@pytest.mark.parametrize("bug", BROKEN_PRICE)
def test_price_checker_fails_broken_versions(bug):
    assert status(ex.check_price, BROKEN_PRICE[bug]) == FAILED


def test_price_checker_calls_a_stub_not_done():
    assert status(ex.check_price, stub) == NOT_DONE


def test_price_compares_tiny_amounts_relatively():
    # a toy run costs ~1e-6 $: an absolute tolerance would accept a 2.5x error
    assert ex._close((1e-6, 0.0), (1e-6 * (1 + 1e-9), 0.0))
    assert not ex._close((1e-6, 0.0), (0.4e-6, 0.0))
    assert not ex._close((1.0, 2.0), (1.0,)) and not ex._close(1.0, "1.0") and not ex._close(1.0, True)


# ------------------------------------------------------------------ 4.5 the journey pair

def journey_pair_solution(prompt, completion):
    if " wait " not in completion:
        return prompt, completion
    cut = completion.index(" wait ")
    return prompt + completion[:cut], completion[cut:]


def _cut_before_wrong_step(prompt, completion):
    if WAIT not in completion:
        return prompt, completion
    cut = completion.rindex(" = ", 0, completion.index(WAIT))
    return prompt + completion[:cut], completion[cut:]


BROKEN_JOURNEY_PAIR = {
    "cut after ' wait ' (the prompt says wait)": lambda p, c: (
        (p + c[:c.index(WAIT) + len(WAIT)], c[c.index(WAIT) + len(WAIT):]) if WAIT in c else (p, c)),
    "the space before 'wait' joins the prompt": lambda p, c: (
        (p + c[:c.index(WAIT) + 1], c[c.index(WAIT) + 1:]) if WAIT in c else (p, c)),
    "the wrong step goes into the completion": _cut_before_wrong_step,
    "a clean solution crashes (str.index)": lambda p, c: (p + c[:c.index(WAIT)], c[c.index(WAIT):]),
    "the problem's prompt is dropped": lambda p, c: (c[:c.index(WAIT)], c[c.index(WAIT):])
    if WAIT in c else (p, c),
}


def _cut_at(find):
    def pair(prompt, completion):
        cut = find(completion)
        return (prompt, completion) if cut < 0 else (prompt + completion[:cut], completion[cut:])
    return pair


def _cut_the_joined_text(prompt, completion):   # searched in prompt + completion
    text = prompt + completion
    cut = text.find(WAIT)
    return (prompt, completion) if cut < 0 else (text[:cut], text[cut:])


JOURNEY_EDGES = {
    "' wait' without its trailing space": _cut_at(lambda c: c.find(" wait")),
    "any whitespace around wait (a regex)": _cut_at(
        lambda c: (lambda m: m.start() if m else -1)(re.search(r"\swait\s", c))),
    "'Wait' too (lower-cased)": _cut_at(lambda c: c.lower().find(WAIT)),
    "'wait' inside a word": _cut_at(lambda c: c.find("wait") - 1 if "wait" in c else -1),
    "the prompt searched too": _cut_the_joined_text,
}


@pytest.mark.parametrize("bug", JOURNEY_EDGES)
def test_journey_pair_checker_fails_versions_that_cut_at_something_else_than_wait(bug):
    assert status(ex.check_journey_pair, JOURNEY_EDGES[bug]) == FAILED


def test_journey_pair_checker_passes_the_course_function_and_a_solution():
    assert status(ex.check_journey_pair, journey_pair) == PASSED
    assert status(ex.check_journey_pair, journey_pair_solution) == PASSED


@pytest.mark.parametrize("bug", BROKEN_JOURNEY_PAIR)
def test_journey_pair_checker_fails_broken_versions(bug):
    assert status(ex.check_journey_pair, BROKEN_JOURNEY_PAIR[bug]) == FAILED


def test_journey_pair_checker_calls_a_stub_not_done():
    assert status(ex.check_journey_pair, stub) == NOT_DONE


def test_journey_pair_cases_hold_corrected_and_clean_solutions():
    cases = ex._journey_pair_cases()
    assert sum(WAIT in c for _, c in cases) >= 20 and sum(WAIT not in c for _, c in cases) >= 5
    assert all(c.count(WAIT) <= 1 for _, c in cases)


# ------------------------------------------------------------------ 4.6 grading recovery

def recovery_solution(completions, prefixes, answers):
    if not completions:
        return 0.0, 0.0
    right = sum(verify(c, a).correct for c, a in zip(completions, answers))
    waited = sum(" wait " in c[len(p):] for c, p in zip(completions, prefixes))
    return right / len(completions), waited / len(completions)


def _rates(recovered, noticed):
    def rates(completions, prefixes, answers):
        n = len(completions)
        return (sum(recovered(c, p, a) for c, p, a in zip(completions, prefixes, answers)) / n,
                sum(noticed(c, p) for c, p in zip(completions, prefixes)) / n)
    return rates


def _right(c, p, a):
    return verify(c, a).correct


def _wrote_wait(c, p):
    return WAIT in c[len(p):]


BROKEN_RECOVERY = {
    "0 of 0 divides by zero": _rates(_right, _wrote_wait),
    "recovery only counted when the model noticed": lambda c, p, a: (0.0, 0.0) if not c else _rates(
        lambda c, p, a: _right(c, p, a) and _wrote_wait(c, p), _wrote_wait)(c, p, a),
    "a ' wait ' in the prefix counted": lambda c, p, a: (0.0, 0.0) if not c else _rates(
        _right, lambda c, p: WAIT in c)(c, p, a),
    "the answer must be well formed too": lambda c, p, a: (0.0, 0.0) if not c else _rates(
        lambda c, p, a: verify(c, a).correct and verify(c, a).well_formed, _wrote_wait)(c, p, a),
    "the answer compared as Latin text": lambda c, p, a: (0.0, 0.0) if not c else _rates(
        lambda c, p, a: f"<answer>{a}</answer>" in c, _wrote_wait)(c, p, a),
}


def recovery_strips_the_prefixes_in_place(completions, prefixes, answers):
    """Right rates, but it replaces the caller's completions with their continuations."""
    for i, prefix in enumerate(prefixes):
        completions[i] = completions[i][len(prefix):]
    if not completions:
        return 0.0, 0.0
    right = sum(verify(c, a).correct for c, a in zip(completions, answers))
    return right / len(completions), sum(WAIT in c for c in completions) / len(completions)


RECOVERY_EDGES = {
    "noticed only when the prefix had no wait": lambda c, p, a: (0.0, 0.0) if not c else _rates(
        _right, lambda c, p: WAIT in c and WAIT not in p)(c, p, a),
    "waits counted, not runs": lambda c, p, a: (0.0, 0.0) if not c else (
        recovery_solution(c, p, a)[0], sum(x[len(y):].count(WAIT) for x, y in zip(c, p)) / len(c)),
    "the continuations written over the completions": recovery_strips_the_prefixes_in_place,
}


@pytest.mark.parametrize("bug", RECOVERY_EDGES)
def test_recovery_checker_fails_versions_wrong_on_corrected_prefixes_or_that_edit_their_input(bug):
    assert status(ex.check_recovery_scores, RECOVERY_EDGES[bug]) == FAILED


def test_recovery_checker_passes_the_course_function_and_a_solution():
    assert status(ex.check_recovery_scores, recovery_scores) == PASSED
    assert status(ex.check_recovery_scores, recovery_solution) == PASSED


@pytest.mark.parametrize("bug", BROKEN_RECOVERY)
def test_recovery_checker_fails_broken_versions(bug):
    assert status(ex.check_recovery_scores, BROKEN_RECOVERY[bug]) == FAILED


def test_recovery_checker_calls_a_stub_not_done():
    assert status(ex.check_recovery_scores, stub) == NOT_DONE


def test_recovery_cases_cover_every_kind_of_run():
    cases = ex._recovery_cases()
    rows = [row for c in cases for row in zip(*c)]
    assert cases[0] == ([], [], [])
    assert all(c.startswith(p) for c, p, _ in rows)
    right = [verify(c, a).correct for c, _, a in rows]
    waited = [WAIT in c[len(p):] for c, p, _ in rows]
    assert any(r and not w for r, w in zip(right, waited))      # accidents
    assert any(w and not r for r, w in zip(right, waited))      # noticed, still wrong
    assert any(WAIT in p for _, p, _ in rows)                   # a prefix with a correction


def test_the_checkers_are_fast():
    import time
    start = time.perf_counter()
    for checker, fn in ((ex.check_run_flops, spent_flops), (ex.check_price, price_solution),
                        (ex.check_journey_pair, journey_pair),
                        (ex.check_recovery_scores, recovery_scores)):
        checker(fn)
    assert time.perf_counter() - start < 4.0


# ------------------------------------------------------------------ the experiments (tiny preset)

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Chapter 2's tiny stages, trained into a temporary runs folder (a few seconds)."""
    root = tmp_path_factory.mktemp("runs")
    pipeline = Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False)
    for stage in ("base", "student_base"):
        pipeline.model(stage)
    return pipeline, root


def _written(root):
    return sorted(p.relative_to(root).parts[0] for p in root.rglob("*") if p.is_file())


def _check_runs(result, exercise, keys):
    assert result["exercise"] == exercise and len(result["runs"]) == 2
    assert result["measured"] in ("higher", "lower", "about the same")
    for run in result["runs"]:
        assert set(keys) <= set(run) and isinstance(run["label"], str)
        for key in keys:
            assert 0.0 <= run[key] <= 1.0 and not math.isnan(run[key])


def test_sky_t1_experiment_at_the_tiny_preset(tiny):
    pipeline, root = tiny
    before = _written(root)
    result = ex.sky_t1_experiment(8, baseline=4, steps=2, pipeline=pipeline, progress=False)
    _check_runs(result, "4.3", ["accuracy"])
    assert [r["n_traces"] for r in result["runs"]] == [4, 8] and result["steps"] == 2
    assert result["pool"] == 24 and _written(root) == before       # nothing saved
    with pytest.raises(ValueError, match="N_TRACES"):
        ex.sky_t1_experiment(0, baseline=4, steps=2, pipeline=pipeline, progress=False)
    with pytest.raises(ValueError, match="pool holds 24"):
        ex.sky_t1_experiment(25, baseline=4, steps=2, pipeline=pipeline, progress=False)


def test_tinyzero_experiment_at_the_tiny_preset(tiny):
    pipeline, root = tiny
    before = _written(root)
    result = ex.tinyzero_experiment(2, pipeline=pipeline, progress=False)
    _check_runs(result, "4.4", ["accuracy_before", "accuracy_after"])
    assert [r["rl_steps"] for r in result["runs"]] == [3, 2]       # the tiny preset's R1-Zero: 3
    assert result["runs"][0]["accuracy_before"] == result["runs"][1]["accuracy_before"]
    assert _written(root) == before
    for bad in (0, ex.MAX_RL_STEPS + 1, 2.5, None):
        with pytest.raises(ValueError, match="RL_STEPS"):
            ex.tinyzero_experiment(bad, pipeline=pipeline, progress=False)


def test_journey_experiment_at_the_tiny_preset(tiny):
    pipeline, root = tiny
    before = _written(root)
    result = ex.journey_experiment(0.5, steps=2, pipeline=pipeline, progress=False)
    _check_runs(result, "4.7", ["accuracy", "recovery_rate", "wait_rate"])
    assert [r["corrections"] for r in result["runs"]] == [2.0, 0.5]
    assert [r["examples"] for r in result["runs"]] == [8 + 16, 8 + 4]   # 8 problems' traces
    assert _written(root) == before
    for bad in (-1, ex.MAX_CORRECTIONS + 1, "2"):
        with pytest.raises(ValueError, match="CORRECTIONS"):
            ex.journey_experiment(bad, steps=2, pipeline=pipeline, progress=False)
