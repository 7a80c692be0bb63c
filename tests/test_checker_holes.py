"""What every "build it" checker guarantees across the chapters: a solution that changes its
inputs fails, the cases are the same every run and as many as the solutions notebooks' recorded
verdicts say ("All N cases match the reference", compared by nbval), and each checker is fast.

(Each chapter's test file holds the wrong versions of its own exercises.)"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import torch

from ch01_what_is_reasoning import exercises as ex1
from ch01_what_is_reasoning.model import causal_mask
from ch01_what_is_reasoning.sampling import filter_logits
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.verifier import verify
from ch02_r1_pipeline import exercises as ex2
from ch02_r1_pipeline.grpo_loss import group_advantages, grpo_loss
from ch02_r1_pipeline.rewards import consistency_reward, format_reward
from ch02_r1_pipeline.sft import keep_for_sft
from ch03_four_methods import exercises as ex3
from ch03_four_methods.training_costs import spent_flops
from ch03_four_methods.voting import best_of_n, majority_vote, pass_at_k
from ch04_budget import exercises as ex4
from ch04_budget.journey import journey_pair, recovery_scores
from course.exercises import FAILED, PASSED

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def _loss(logp, old_logp, advantages, mask, eps_low, eps_high, loss_type):
    return grpo_loss(logp, old_logp, advantages, mask, eps_low=eps_low, eps_high=eps_high,
                     loss_type=loss_type)[0]


# exercise: (checker, the course's function, its cases)
CHECKERS = {
    "1.1": (ex1.check_causal_mask, causal_mask, ex1._causal_mask_cases),
    "1.2": (ex1.check_top_p_filter, lambda logits, p: filter_logits(logits, top_p=p), ex1._top_p_cases),
    "1.3": (ex1.check_extract_answer, lambda text: verify(text).answer, ex1._answer_cases),
    "1.4": (ex1.check_encode, CharTokenizer().encode, ex1._encode_cases),
    "2.1": (ex2.check_format_reward, format_reward, ex2._format_cases),
    "2.2": (ex2.check_consistency_reward, consistency_reward, ex2._consistency_cases),
    "2.3": (ex2.check_group_advantages, group_advantages, ex2._advantage_cases),
    "2.4": (ex2.check_grpo_loss, _loss, ex2._loss_cases),
    "2.8": (ex2.check_sft_loss, ex2.completion_only_loss, ex2._sft_cases),
    "2.9": (ex2.check_rejection_filter, lambda p, c, a: keep_for_sft(p, c, a)["kept"],
            ex2._rejection_cases),
    "2.10": (ex2.check_grpo_step, ex2.grpo_update, ex2._grpo_cases),
    "3.1": (ex3.check_majority_vote, majority_vote, ex3._majority_cases),
    "3.2": (ex3.check_pass_at_k, pass_at_k, ex3._pass_at_k_cases),
    "3.3": (ex3.check_best_of_n, best_of_n, ex3._best_of_n_cases),
    "3.4": (ex3.check_budget_ceiling, ex3.reference_answer_with_ceiling, ex3._ceiling_cases),
    "4.1": (ex4.check_run_flops, spent_flops, ex4._flops_cases),
    "4.2": (ex4.check_price, ex4._price_reference, ex4._price_cases),
    "4.5": (ex4.check_journey_pair, journey_pair, ex4._journey_pair_cases),
    "4.6": (ex4.check_recovery_scores, recovery_scores, ex4._recovery_cases),
}


def _recorded_case_counts() -> dict[str, int]:
    """{exercise: N} from the committed solutions notebooks' outputs."""
    counts = {}
    for path in sorted(NOTEBOOKS.glob("*_solutions.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            text = "".join("".join(o.get("text", [])) for o in cell.get("outputs", []))
            for exercise, n in re.findall(r"Exercise (\d+\.\d+): passed\. All (\d+) cases", text):
                counts[exercise] = int(n)
    return counts


def test_every_checker_has_as_many_cases_as_the_solutions_notebooks_recorded():
    """nbval compares those verdicts: a checker that grows a case breaks the notebooks' outputs,
    so new edge cases replace random ones."""
    recorded = _recorded_case_counts()
    assert sorted(recorded, key=lambda e: tuple(map(int, e.split(".")))) == list(CHECKERS)
    for exercise, (_, _, cases) in CHECKERS.items():
        assert len(cases()) == recorded[exercise], exercise


@pytest.mark.parametrize("exercise", CHECKERS)
def test_every_checker_passes_the_course_function_the_same_way_twice(exercise):
    checker, reference, _ = CHECKERS[exercise]
    first = checker(reference)
    assert first.status == PASSED and first == checker(reference), first


# ------------------------------------------------------------------ a function that edits its inputs

def _edit(value) -> bool:
    """Change `value` in place, the way a careless solution does; False if it cannot be."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            value.mul_(0.5).add_(1.0)
        else:
            value.add_(1)
        return True
    if isinstance(value, torch.nn.Module):
        with torch.no_grad():
            next(value.parameters()).add_(0.01)
        return True
    if isinstance(value, list):
        value.reverse() if len(set(map(repr, value))) > 1 else value.append(None)
        return True
    if isinstance(value, dict):
        value["checked"] = True
        return True
    return False


def _editing(reference, position):
    """The course's own function (so the answer is right), which then edits argument
    `position` of its caller."""
    def solution(*args):
        mine = list(args)
        mine[position] = copy.deepcopy(args[position])
        result = reference(*mine)
        assert _edit(args[position])
        return result
    return solution


# exercise: the argument a careless solution edits (where an exercise's inputs are mutable at all;
# the rewards and the filter get tuples, the others numbers and strings)
EDITED = {"1.2": 0, "2.3": 0, "2.4": 1, "2.8": 1, "2.10": 5, "3.1": 0, "3.3": 1, "3.4": 0,
          "4.1": 0, "4.6": 0}


@pytest.mark.parametrize("exercise", EDITED)
def test_every_checker_fails_a_right_answer_that_edits_its_input(exercise):
    checker, reference, _ = CHECKERS[exercise]
    if exercise == "2.8":
        reference = ex2.completion_only_loss
    verdict = checker(_editing(reference, EDITED[exercise]))
    assert verdict.status == FAILED and "changed its input" in verdict.message, verdict
    assert "before the call" in verdict.message and "after the call" in verdict.message


@pytest.mark.parametrize("exercise", sorted(set(CHECKERS) - set(EDITED)))
def test_the_other_checkers_pass_only_values_a_solution_cannot_edit(exercise):
    _, _, cases = CHECKERS[exercise]
    for case in cases():
        for value in case:
            assert isinstance(value, (int, float, str, tuple)), (exercise, type(value))
            if isinstance(value, tuple):
                assert all(isinstance(v, (int, float, str, tuple, bool)) for v in value)
