"""course/effects.py: an effect's threshold, its spread over seeds, and the committed study."""

import pytest

from course.effects import Effect, committed_study, ratio, spread


@pytest.mark.parametrize("op, threshold, value, holds", [
    (">=", 0.30, 0.30, True), (">=", 0.30, 0.2999, False),
    (">", 0.0, 0.0, False), (">", 0.0, 0.001, True),
    ("<=", 0.01, 0.01, True), ("<=", 0.01, 0.0101, False),
    (">=", 3.0, None, False), ("<=", 0.1, None, False),   # a ratio over zero never passes
])
def test_an_effect_holds_as_the_notebooks_assert_would(op, threshold, value, holds):
    assert Effect("words", lambda r: value, op, threshold).holds(value) is holds


def test_ratio_and_spread_skip_what_is_not_a_number():
    assert ratio(3.0, 2.0) == 1.5 and ratio(1.0, 0.0) is None
    assert spread([0.2, None, 0.4]) == {"mean": pytest.approx(0.3), "min": 0.2, "max": 0.4}
    assert spread([None]) == {"mean": None, "min": None, "max": None}


def test_a_missing_study_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/seeds.py --commit"):
        committed_study(tmp_path / "seeds.json")


def test_the_spread_plot_has_one_panel_per_measured_effect(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from course.effects import plot_spread

    effects = {"gain": Effect("a gain", lambda r: r["gain"], ">=", 0.3),
               "mixing": Effect("mixing", lambda r: None, "<=", 0.01),
               "unmeasured": Effect("not in the study", lambda r: 1.0, ">", 0.0)}
    study = {"seeds": [0, 1], "effects": {"gain": {"values": [0.5, 0.25]},
                                          "mixing": {"values": [0.0, None]}}}
    fig = plot_spread(effects, {"gain": 0.5}, study, columns=2, path=tmp_path / "s.png")
    shown = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in shown] == ["gain", "mixing"]
    low, high = shown[0].get_xlim()
    assert low < 0.25 and high > 0.5                    # every seed and the threshold in view
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_the_committed_study_is_of_todays_checks():
    """benchmarks/results/seeds.json measured chapter 2's checks as the notebook asserts them
    today: the same targets and thresholds, one value per seed, its counts right. A threshold
    changed without rerunning `python benchmarks/seeds.py --commit` fails here."""
    from ch02_r1_pipeline.effects import EFFECTS as CH02
    from ch03_four_methods.effects import EFFECTS as CH03

    study = committed_study()
    assert len(study["seeds"]) >= 5 and 0 in study["seeds"]
    for name, effect in {**CH02, **CH03}.items():
        entry = study["effects"][name]
        assert (entry["target"], entry["threshold"]) == (effect.target, [effect.op, effect.threshold]), name
        assert len(entry["values"]) == len(study["seeds"]), name
        assert entry["holds"] == sum(effect.holds(v) for v in entry["values"]), name
