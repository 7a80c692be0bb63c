"""The scaling explorer reads points from chapter 3's results, with int or string keys."""

from __future__ import annotations

import pytest

from ch03_four_methods.explorer import STRATEGIES, scaling_explorer, scaling_point


def _curves(keys):
    """A fake pool of 3 samples; keys are made by `keys` (int in memory, str from JSON)."""
    return {"majority": {keys(1): 0.4, keys(2): 0.5, keys(3): 0.6},
            "best_of_n_verifier": {keys(1): 0.4, keys(2): 0.7, keys(3): 0.8},
            "pass_at_n": {keys(1): 0.45, keys(2): 0.75, keys(3): 0.9},
            "inference_flops_per_problem": {keys(1): 1e6, keys(2): 2e6, keys(3): 3e6}}


@pytest.fixture
def results():
    return {"scaling_by_model": {"base": _curves(int), "distill": _curves(str)}}


@pytest.mark.parametrize("model", ["base", "distill"])
def test_scaling_point_reads_int_and_string_keys(results, model):
    assert scaling_point(results, model, "majority", 2) == (0.5, 2e6)
    assert scaling_point(results, model, "best_of_n_verifier", 3) == (0.8, 3e6)
    assert scaling_point(results, model, "pass_at_n", 1) == (0.45, 1e6)


@pytest.mark.parametrize("args", [("student", "majority", 1), ("base", "beam", 1),
                                  ("base", "majority", 0), ("base", "majority", 4)])
def test_scaling_point_rejects_what_is_not_in_the_results(results, args):
    with pytest.raises(ValueError):
        scaling_point(results, *args)


def test_the_widget_builds_and_follows_its_controls(results):
    panel = scaling_explorer(results)
    (model, strategy), n, text, _ = panel.children[0].children, *panel.children[1:]
    assert list(model.options) == ["base", "distill"] and n.min == 1 and n.max == 3
    assert [value for _, value in strategy.options] == list(STRATEGIES)
    assert "70.0%" not in text.value
    n.value, strategy.value = 2, "best_of_n_verifier"
    assert "70.0%" in text.value and "N = 2" in text.value
    model.value, strategy.value, n.value = "distill", "pass_at_n", 3
    assert "90.0%" in text.value and "3.00e+06" in text.value
