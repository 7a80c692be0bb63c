"""Typed overrides and recipe fingerprints: the pieces that make a course safe to change."""

from dataclasses import dataclass, field

import pytest

from ch02_r1_pipeline.grpo import GRPOConfig
from course.cache import fingerprint, what_changed
from course.overrides import (
    OverrideError,
    override,
    parse_sets,
    split_overrides,
    valid_keys,
)
from course.runtime import ModelShape, get_preset


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    steps: int = 10


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    flag: bool = False
    inner: Inner = Inner()
    shapes: tuple = (ModelShape(1, 1, 8),)
    weights: dict = field(default_factory=lambda: {"accuracy": 1.0})


def test_parse_sets_reads_python_literals_and_plain_strings():
    got = parse_sets(["a.lr=2e-4", "steps=3", "flag=True", "name=r1", "t=(1, 2)", "w={'a': 1}"])
    assert got == {"a.lr": 2e-4, "steps": 3, "flag": True, "name": "r1", "t": (1, 2), "w": {"a": 1}}


@pytest.mark.parametrize("bad", ["lr", "=3", ""])
def test_parse_sets_needs_key_equals_value(bad):
    with pytest.raises(OverrideError, match="key=value"):
        parse_sets([bad])


def test_override_returns_a_changed_copy_and_reaches_inside():
    s = Outer()
    t = override(s, {"inner.lr": 5e-3, "flag": True, "weights.format": 0.1})
    assert t.inner == Inner(lr=5e-3, steps=10) and t.flag is True
    assert t.weights == {"accuracy": 1.0, "format": 0.1}
    assert s == Outer()                        # the original is untouched
    assert override(s, inner={"steps": 4}).inner.steps == 4
    assert override(s, {"inner.steps": 7, "inner.lr": 1}).inner == Inner(lr=1.0, steps=7)


def test_override_converts_tuples_to_shapes():
    t = override(Outer(), {"shapes": ((2, 4, 64), {"n_layer": 3, "n_head": 4, "n_embd": 96})})
    assert t.shapes == (ModelShape(2, 4, 64), ModelShape(3, 4, 96))


def test_a_typo_is_an_error_listing_the_valid_keys():
    with pytest.raises(OverrideError, match=r"unknown setting 'inner\.lrr'.*inner\.lr, inner\.steps"):
        override(Outer(), {"inner.lrr": 1.0})
    with pytest.raises(OverrideError, match="unknown setting 'nmae'") as err:
        override(Outer(), nmae="y")
    for key in valid_keys(Outer()):
        assert key in str(err.value)


@pytest.mark.parametrize("key, value", [("inner.lr", "fast"), ("inner.steps", 2.5), ("flag", 1),
                                        ("inner.steps", True), ("inner.lr", float("nan")),
                                        ("name", 3), ("shapes", 3), ("inner", 5),
                                        ("weights.accuracy", "high"), ("flag.x", 1)])
def test_a_value_of_the_wrong_type_is_an_error(key, value):
    with pytest.raises(OverrideError, match=key.split(".")[0]):
        override(Outer(), {key: value})


def test_real_settings_are_typed_dataclasses():
    preset = get_preset("tiny")
    assert override(preset, lr=1e-2).lr == 1e-2
    with pytest.raises(OverrideError, match="n_embd"):
        override(preset, n_emdb=64)
    cfg = override(GRPOConfig(), {"lr": 2e-4, "reward_weights.consistency": 2.0})
    assert cfg.lr == 2e-4 and cfg.reward_weights == {"accuracy": 1.0, "format": 0.1, "consistency": 2.0}


def test_grpo_config_refuses_settings_that_cannot_train():
    for bad in (dict(temperature=0.0), dict(temperature=float("nan")), dict(group_size=1),
                dict(prompts_per_step=0), dict(loss_type="ppo"), dict(mu=0)):
        with pytest.raises(ValueError):
            GRPOConfig(**bad)


def test_split_overrides_keeps_a_chapters_own_keys():
    mine, rest = split_overrides(Outer(), {"inner.lr": 1.0, "r1_zero.lr": 2.0, "flag": True})
    assert mine == {"inner.lr": 1.0, "flag": True} and rest == {"r1_zero.lr": 2.0}


def test_fingerprints_change_with_the_recipe_and_say_why():
    a = {"kind": "sft", "settings": {"lr": 1e-3, "steps": 3}, "inputs": {"base": "abc"}}
    b = {"kind": "sft", "settings": {"lr": 2e-3, "steps": 3}, "inputs": {"base": "abc"}}
    c = {"kind": "sft", "settings": {"lr": 1e-3, "steps": 3}, "inputs": {"base": "def"}}
    assert fingerprint(a) == fingerprint(dict(a)) != fingerprint(b) != fingerprint(c)
    assert what_changed(a, a) is None
    assert what_changed(a, b) == "lr changed (0.001 -> 0.002)"
    assert what_changed(a, c) == "base changed"
    assert "older version" in what_changed(None, a)
    # tuples and lists, dataclasses and their dicts fingerprint alike (JSON round trips)
    assert fingerprint({"settings": Inner()}) == fingerprint({"settings": {"lr": 1e-3, "steps": 10}})
