"""Chapter 3's exercise checkers and experiment runners.

Every checker passes the course's reference and a from-scratch solution (the solutions
notebook's), reports "not done yet" for the notebook's stub, and fails realistic broken
versions. The experiment runners are run on a tiny random model and a few problems (seconds);
they never open chapter 2's pipeline here.
"""

from __future__ import annotations

import math
from collections import Counter
from math import comb, factorial

import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.arithmetic import ANSWER, END_THINK, THINK
from ch01_what_is_reasoning.sampling import generate
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline.tasks import held_out_problems
from ch03_four_methods import exercises as ex
from ch03_four_methods.voting import best_of_n, majority_vote, pass_at_k


def stub(*args):
    raise NotImplementedError


# ------------------------------------------------------------------ 3.1 majority vote

def solution_majority_vote(answers):
    counts = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    if not counts:
        return None
    top = max(counts.values())
    return next(a for a in counts if counts[a] == top)


def majority_counts_none(answers):         # None is counted as an answer
    return Counter(answers).most_common(1)[0][0] if answers else None


def majority_last_seen_on_tie(answers):     # >= : ties go to the last answer seen
    votes = Counter(a for a in answers if a is not None)
    best = None
    for a in votes:
        if best is None or votes[a] >= votes[best]:
            best = a
    return best


def majority_drops_zero(answers):           # `if a` also throws away the answer 0
    votes = Counter(a for a in answers if a)
    return max(votes, key=votes.__getitem__) if votes else None


def majority_smallest_on_tie(answers):      # sorted() first: ties go to the smallest value
    votes = Counter(a for a in answers if a is not None)
    return max(sorted(votes), key=votes.__getitem__) if votes else None


def majority_first_to_reach(answers):       # a running leader: ties go to who got there first
    votes, leader = Counter(), None
    for a in answers:
        if a is None:
            continue
        votes[a] += 1
        if leader is None or votes[a] > votes[leader]:
            leader = a
    return leader


def test_majority_checker_accepts_the_reference_and_a_solution():
    assert ex.check_majority_vote(majority_vote).passed
    assert ex.check_majority_vote(solution_majority_vote).passed


@pytest.mark.parametrize("broken", [majority_counts_none, majority_last_seen_on_tie,
                                    majority_drops_zero, majority_smallest_on_tie,
                                    majority_first_to_reach])
def test_majority_checker_rejects_broken_versions(broken):
    v = ex.check_majority_vote(broken)
    assert v.status == ex.FAILED and "expected" in v.message, v


def majority_removes_the_nones(answers):     # right answer, but the caller's list loses its Nones
    while None in answers:
        answers.remove(None)
    return solution_majority_vote(answers)


def majority_filters_in_place(answers):
    answers[:] = [a for a in answers if a is not None]
    return solution_majority_vote(answers)


def majority_by_set_and_count(answers):      # a set has no order: ties go anywhere
    votes = set(answers) - {None}
    return max(votes, key=answers.count) if votes else None


MAJORITY_EDGES = [majority_removes_the_nones, majority_filters_in_place, majority_by_set_and_count]


@pytest.mark.parametrize("broken", MAJORITY_EDGES)
def test_majority_checker_rejects_votes_that_edit_the_answers_or_lose_the_order(broken):
    v = ex.check_majority_vote(broken)
    assert v.status == ex.FAILED, v
    if "in_place" in broken.__name__ or "removes" in broken.__name__:
        assert "changed its input `answers`" in v.message


# ------------------------------------------------------------------ 3.2 pass@k

def solution_pass_at_k(n, c, k):
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_at_k_biased(n, c, k):               # sampling with replacement: biased low
    return 1.0 - (1.0 - c / n) ** k


def pass_at_k_off_by_one(n, c, k):           # Chen et al.'s product, one term shifted
    return 1.0 - math.prod(1.0 - k / j for j in range(n - c, n))


def pass_at_k_factorials(n, c, k):           # C(a, b) by hand: breaks when n - c < k
    def choose(a, b):
        return factorial(a) // (factorial(b) * factorial(a - b))
    return 1.0 - choose(n - c, k) / choose(n, k)


def pass_at_k_forgets_one_minus(n, c, k):    # the chance that every draw is wrong
    return comb(n - c, k) / comb(n, k)


def pass_at_k_ignores_k(n, c, k):            # pass@1 for every k
    return c / n


def test_pass_at_k_checker_accepts_the_reference_and_a_solution():
    assert ex.check_pass_at_k(pass_at_k).passed
    assert ex.check_pass_at_k(solution_pass_at_k).passed
    # the numerically stable product form of Chen et al. (with its guard) passes too
    assert ex.check_pass_at_k(lambda n, c, k: 1.0 if n - c < k else
                              1.0 - math.prod(1.0 - k / j for j in range(n - c + 1, n + 1))).passed


@pytest.mark.parametrize("broken", [pass_at_k_biased, pass_at_k_off_by_one, pass_at_k_factorials,
                                    pass_at_k_forgets_one_minus, pass_at_k_ignores_k])
def test_pass_at_k_checker_rejects_broken_versions(broken):
    v = ex.check_pass_at_k(broken)
    assert v.status == ex.FAILED and "expected" in v.message, v


def pass_at_k_rounded(n, c, k):               # rounded for display: 4 decimals are not 1e-5
    return round(solution_pass_at_k(n, c, k), 4)


def pass_at_k_float_choose(n, c, k):          # C(a, b) through float factorials: overflows at 171!
    def choose(a, b):
        return math.gamma(a + 1) / (math.gamma(b + 1) * math.gamma(a - b + 1)) if b <= a else 0.0
    return 1.0 - choose(n - c, k) / choose(n, k)


PASS_AT_K_EDGES = [pass_at_k_rounded, pass_at_k_float_choose]


@pytest.mark.parametrize("broken", PASS_AT_K_EDGES)
def test_pass_at_k_checker_rejects_rounded_or_overflowing_estimates(broken):
    assert ex.check_pass_at_k(broken).status == ex.FAILED


def test_pass_at_k_checker_reports_a_crash_as_the_failing_case():
    v = ex.check_pass_at_k(pass_at_k_factorials)
    assert "raised ValueError" in v.message and "n=" in v.message, v


# ------------------------------------------------------------------ 3.3 best-of-N

def solution_best_of_n(completions, scores):
    answers = [verify(c).answer for c in completions]
    votes = Counter(a for a in answers if a is not None)
    ranks = [(0, 0.0) if math.isnan(s) else (1, s) for s in scores]   # any number beats NaN
    best = max(ranks)
    tied = [i for i, r in enumerate(ranks) if r == best]
    return max(tied, key=lambda i: votes.get(answers[i], 0))   # max() keeps the first of equals


def _votes(completions, count_none=False):
    answers = [verify(c).answer for c in completions]
    return answers, Counter(a for a in answers if count_none or a is not None)


def best_of_n_lowest(completions, scores):          # min instead of max
    ranks = [math.inf if math.isnan(s) else s for s in scores]
    return min(range(len(scores)), key=ranks.__getitem__)


def best_of_n_first_on_tie(completions, scores):    # ignores the votes
    ranks = [-math.inf if math.isnan(s) else s for s in scores]
    return max(range(len(scores)), key=ranks.__getitem__)


def best_of_n_last_on_tie(completions, scores):
    answers, votes = _votes(completions)
    ranks = [(0, 0.0) if math.isnan(s) else (1, s) for s in scores]
    best = max(ranks)
    tied = [i for i, r in enumerate(ranks) if r == best]
    top = max(votes.get(answers[i], 0) for i in tied)
    return [i for i in tied if votes.get(answers[i], 0) == top][-1]


def best_of_n_votes_among_tied(completions, scores):   # votes counted among the tied only
    ranks = [(0, 0.0) if math.isnan(s) else (1, s) for s in scores]
    best = max(ranks)
    tied = [i for i, r in enumerate(ranks) if r == best]
    answers, votes = _votes([completions[i] for i in tied])
    return tied[max(range(len(tied)), key=lambda j: votes.get(answers[j], 0))]


def best_of_n_none_votes(completions, scores):     # "no answer" collects votes too
    answers, votes = _votes(completions, count_none=True)
    ranks = [(0, 0.0) if math.isnan(s) else (1, s) for s in scores]
    best = max(ranks)
    tied = [i for i, r in enumerate(ranks) if r == best]
    return max(tied, key=lambda i: votes[answers[i]])


def best_of_n_nan_unhandled(completions, scores):   # max() with NaN: the answer depends on order
    answers, votes = _votes(completions)
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s == best or (math.isnan(s) and math.isnan(best))]
    return max(tied, key=lambda i: votes.get(answers[i], 0))


def test_best_of_n_checker_accepts_the_reference_and_a_solution():
    assert ex.check_best_of_n(best_of_n).passed
    assert ex.check_best_of_n(solution_best_of_n).passed


@pytest.mark.parametrize("broken", [best_of_n_lowest, best_of_n_first_on_tie, best_of_n_last_on_tie,
                                    best_of_n_votes_among_tied, best_of_n_none_votes,
                                    best_of_n_nan_unhandled])
def test_best_of_n_checker_rejects_broken_versions(broken):
    v = ex.check_best_of_n(broken)
    assert v.status == ex.FAILED and "expected" in v.message, v


def best_of_n_nan_as_minus_inf(completions, scores):   # NaN is not -inf: -inf is still a number
    answers, votes = _votes(completions)
    ranks = [-math.inf if math.isnan(s) else s for s in scores]
    tied = [i for i, r in enumerate(ranks) if r == max(ranks)]
    return max(tied, key=lambda i: votes.get(answers[i], 0))


def best_of_n_cleans_scores_in_place(completions, scores):   # NaN overwritten in the caller's list
    for i, s in enumerate(scores):
        if math.isnan(s):
            scores[i] = -1e300
    answers, votes = _votes(completions)
    tied = [i for i, s in enumerate(scores) if s == max(scores)]
    return max(tied, key=lambda i: votes.get(answers[i], 0))


def best_of_n_parses_answers_by_regex(completions, scores):  # its own parser, not verify
    import re

    def answer(c):
        found = re.search(r"<answer>(\d+)</answer>", c)
        return int(found.group(1)) if found else None
    answers = [answer(c) for c in completions]
    votes = Counter(a for a in answers if a is not None)
    ranks = [(0, 0.0) if math.isnan(s) else (1, s) for s in scores]
    tied = [i for i, r in enumerate(ranks) if r == max(ranks)]
    return max(tied, key=lambda i: votes.get(answers[i], 0))


BEST_OF_N_EDGES = [best_of_n_nan_as_minus_inf, best_of_n_cleans_scores_in_place,
                   best_of_n_parses_answers_by_regex]


@pytest.mark.parametrize("broken", BEST_OF_N_EDGES)
def test_best_of_n_checker_rejects_minus_inf_for_nan_edited_scores_or_other_parsers(broken):
    v = ex.check_best_of_n(broken)
    assert v.status == ex.FAILED, v
    if "in_place" in broken.__name__:
        assert "changed its input `scores`" in v.message


# ------------------------------------------------------------------ 3.4 a budget ceiling

def ceiling(model, tokenizer, prompt, budget, *, extra=0, think_eos=None, close=(END_THINK, ANSWER),
            skip=(), bos=True):
    """A from-scratch ceiling; the keywords plant one bug each."""
    context = tokenizer.encode(prompt + THINK, bos=bos)
    end = tokenizer.token_id(END_THINK) if think_eos is None else think_eos
    thinking = generate(model, [context], max_new_tokens=budget + extra, eos_id=end,
                        pad_id=tokenizer.pad_id).tokens[0]
    forced = context + thinking + [tokenizer.token_id(t) for t in close]
    answer = generate(model, [forced], max_new_tokens=8, eos_id=tokenizer.eos_id,
                      pad_id=tokenizer.pad_id).tokens[0]
    return (THINK + tokenizer.decode(thinking, skip_special=skip) + END_THINK + ANSWER
            + tokenizer.decode(answer))


def test_budget_checker_accepts_the_reference_and_a_solution():
    assert ex.check_budget_ceiling(ex.reference_answer_with_ceiling).passed
    assert ex.check_budget_ceiling(ceiling).passed


@pytest.mark.parametrize("bug", [
    {"extra": 1},                                  # one token over the budget
    {"extra": -1},                                 # one token short (and budget 0 crashes)
    {"think_eos": 2},                              # stops at <eos>, thinks past its own </think>
    {"close": (END_THINK,)},                       # forgets to force <answer>
    {"skip": ("<pad>", "<bos>", "<eos>")},         # hides an <eos> the model wrote in its thinking
    {"bos": False},                                # no <bos> in front of the prompt
])
def test_budget_checker_rejects_broken_versions(bug, tok):
    assert tok.eos_id == 2
    v = ex.check_budget_ceiling(lambda *a: ceiling(*a, **bug))
    assert v.status == ex.FAILED and "expected" in v.message, (bug, v)
    assert "model=random GPT" in v.message


def ceiling_answer(model, tokenizer, prompt, budget, *, answer_tokens=8, answer_end=None,
                   verbatim_answer=False, strip=False):
    """The from-scratch ceiling with the answer phase changed (one bug per keyword)."""
    context = tokenizer.encode(prompt + THINK, bos=True)
    thinking = generate(model, [context], max_new_tokens=budget, eos_id=tokenizer.token_id(END_THINK),
                        pad_id=tokenizer.pad_id).tokens[0]
    forced = context + thinking + [tokenizer.token_id(END_THINK), tokenizer.token_id(ANSWER)]
    answer = generate(model, [forced], max_new_tokens=answer_tokens,
                      eos_id=tokenizer.eos_id if answer_end is None else tokenizer.token_id(answer_end),
                      pad_id=tokenizer.pad_id).tokens[0]
    text = tokenizer.decode(thinking, skip_special=())
    return (THINK + (text.strip() if strip else text) + END_THINK + ANSWER
            + tokenizer.decode(answer, skip_special=() if verbatim_answer else ("<pad>", "<bos>", "<eos>")))


CEILING_EDGES = {
    "the answer gets 7 tokens": dict(answer_tokens=7),
    "the answer gets 9 tokens": dict(answer_tokens=9),
    "the answer stops at </answer>": dict(answer_end="</answer>"),
    "the answer decoded verbatim": dict(verbatim_answer=True),
    "the thinking stripped of spaces": dict(strip=True),
}


@pytest.mark.parametrize("bug", CEILING_EDGES)
def test_budget_checker_rejects_wrong_answer_phases(bug):
    v = ex.check_budget_ceiling(lambda *a: ceiling_answer(*a, **CEILING_EDGES[bug]))
    assert v.status == ex.FAILED, (bug, v)


def test_budget_checker_fails_a_ceiling_that_changes_the_model():
    def trains_a_little(model, tokenizer, prompt, budget):
        with torch.no_grad():
            model.lm_head.weight.mul_(1.0001)
        return ex.reference_answer_with_ceiling(model, tokenizer, prompt, budget)
    v = ex.check_budget_ceiling(trains_a_little)
    assert v.status == ex.FAILED and "changed its input `model`" in v.message


def test_budget_checker_restores_the_thread_count():
    before = torch.get_num_threads()
    ex.check_budget_ceiling(stub)
    assert torch.get_num_threads() == before


# ------------------------------------------------------------------ every stub

@pytest.mark.parametrize("checker", [ex.check_majority_vote, ex.check_pass_at_k, ex.check_best_of_n,
                                     ex.check_budget_ceiling])
def test_a_stub_is_not_done_yet(checker, capsys):
    v = checker(stub)
    assert v.status == ex.NOT_DONE and not v.passed
    assert "not done yet" in capsys.readouterr().out


def test_checkers_are_fast():
    import time
    for checker, fn in ((ex.check_majority_vote, majority_vote), (ex.check_pass_at_k, pass_at_k),
                        (ex.check_best_of_n, best_of_n),
                        (ex.check_budget_ceiling, ex.reference_answer_with_ceiling)):
        start = time.perf_counter()
        checker(fn)
        assert time.perf_counter() - start < 5, checker   # ~0.5 s here; generous for a busy CI


# ------------------------------------------------------------------ the experiment runners

@pytest.fixture(scope="module")
def small():
    from ch01_what_is_reasoning.tokenizer import CharTokenizer
    tokenizer = CharTokenizer()
    model = make_model(tokenizer.vocab_size, block_size=64, scale=4.0)
    return model, tokenizer, held_out_problems(3)


def test_voting_temperature_runs_on_a_tiny_model(small):
    model, tokenizer, problems = small
    out = ex.voting_temperature(0.5, n_samples=3, model=model, tokenizer=tokenizer,
                                problems=problems, progress=False)
    assert out["ns"] == [1, 2, 3] and out["problems"] == 3
    for side, t in (("yours", 0.5), ("baseline", 1.0)):
        r = out[side]
        assert r["temperature"] == t and set(r["majority"]) == set(r["pass_at_n"]) == {1, 2, 3}
        assert all(0 <= a <= 1 for a in r["majority"].values())
        assert r["gain"] == pytest.approx(r["majority"][3] - r["pass_at_n"][1])
    same = ex.voting_temperature(1.0, n_samples=2, model=model, tokenizer=tokenizer,
                                 problems=problems, progress=False)
    assert same["yours"] == same["baseline"]   # one pool when the temperatures agree


@pytest.mark.parametrize("bad", [0, 0.0, -1, 5.0, None, "1.0", True])
def test_voting_temperature_refuses_bad_temperatures(bad, small):
    model, tokenizer, problems = small
    with pytest.raises(ValueError, match="temperature"):
        ex.voting_temperature(bad, model=model, tokenizer=tokenizer, problems=problems)


def test_budget_ceiling_runs_on_a_tiny_model(small):
    model, tokenizer, problems = small
    out = ex.budget_ceiling(4, model=model, tokenizer=tokenizer, problems=problems, progress=False)
    full = max(ex.SETTINGS["tiny"].budgets)
    assert out["budgets"] == [0, 4, full] and out["problems"] == 3
    for b in out["budgets"]:
        assert 0 <= out["accuracy"][b] <= 1 and out["mean_thinking_tokens"][b] <= b
        assert set(out["by_ops"][b]) == {p.n_ops for p in problems}
    assert out["mean_thinking_tokens"][0] == 0
    with pytest.raises(ValueError, match="budget"):
        ex.budget_ceiling(-1, model=model, tokenizer=tokenizer, problems=problems)


def test_beam_width_runs_on_a_tiny_model(small):
    model, tokenizer, problems = small
    out = ex.beam_width((1, 1), baseline=(1, 2), model=model, tokenizer=tokenizer,
                        problems=problems[:2], progress=False)
    assert out["yours"]["beam"] == (1, 1) and out["baseline"]["beam"] == (1, 2)
    for side in ("yours", "baseline"):
        assert 0 <= out[side]["accuracy"] <= 1 and out[side]["mean_tokens"] >= 0
    for bad in ((0, 2), (2,), (8, 8), "4x4", (2.5, 2)):
        with pytest.raises(ValueError):
            ex.beam_width(bad, model=model, tokenizer=tokenizer, problems=problems)
