"""Devices, seeds, presets, runs dir and atomic checkpoints."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning.model import GPT
from course import runtime
from course.runtime import (
    PRESETS,
    get_preset,
    load_checkpoint,
    pick_device,
    runs_dir,
    save_checkpoint,
    seed_everything,
    write_json,
)


def test_pick_device_prefer_and_env(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.delenv("COURSE_DEVICE")
    assert pick_device().type in ("cpu", "cuda")     # auto never picks MPS


def _machine(monkeypatch, *, cuda: bool, mps: bool):
    """Pretend torch sees (or lacks) a CUDA GPU and Apple's MPS; nothing printed yet."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(runtime, "_DEVICE_PRINTED", False)
    monkeypatch.setattr(runtime, "_MPS_NOTED", False)


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, False, "cuda"),
    (True, True, "cuda"),
    (False, True, "cpu"),      # an Apple machine: the CPU, the tested path, unless MPS is asked for
    (False, False, "cpu"),
])
def test_auto_picks_cuda_else_the_cpu_never_mps(monkeypatch, capsys, cuda, mps, expected):
    _machine(monkeypatch, cuda=cuda, mps=mps)
    assert pick_device() == torch.device(expected)
    assert pick_device() == torch.device(expected)
    out = capsys.readouterr().out
    assert out.count("device: ") == 1 and f"device: {expected}" in out
    assert "MPS" not in out


@pytest.mark.parametrize("how", ["env", "prefer"])
def test_mps_only_when_asked_and_then_said_to_be_untested(monkeypatch, capsys, how):
    _machine(monkeypatch, cuda=False, mps=True)
    if how == "env":
        monkeypatch.setenv("COURSE_DEVICE", "mps")
    ask = "mps" if how == "prefer" else None
    assert pick_device(ask) == torch.device("mps")
    assert pick_device(ask) == torch.device("mps")
    out = capsys.readouterr().out
    assert out.count("device: mps") == 1
    assert out.count(runtime.MPS_UNTESTED) == 1 and "untested" in runtime.MPS_UNTESTED
    assert len(out.splitlines()) == 2                # the device, and the one line about MPS


def test_asking_for_cuda_or_cpu_says_nothing_about_mps(monkeypatch, capsys):
    _machine(monkeypatch, cuda=True, mps=True)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    assert pick_device() == torch.device("cuda")
    assert pick_device("cpu") == torch.device("cpu")
    assert capsys.readouterr().out == "device: cuda\n"


def test_pick_device_prints_once(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "_DEVICE_PRINTED", False)
    pick_device("cpu")
    pick_device("cpu")
    assert capsys.readouterr().out.count("device: cpu") == 1


def test_seed_everything_is_reproducible():
    def draw():
        g = seed_everything(11)
        return (random.random(), float(np.random.rand()), torch.rand(3).tolist(),
                torch.rand(2, generator=g).tolist())

    assert draw() == draw()
    a = draw()
    seed_everything(12)
    assert random.random() != a[0]


def test_presets():
    assert set(PRESETS) == {"tiny", "cpu", "gpu"}
    assert get_preset("tiny").n_layer <= get_preset("cpu").n_layer <= get_preset("gpu").n_layer
    for p in PRESETS.values():
        assert p.n_embd % p.n_head == 0
    assert get_preset("auto", torch.device("cpu")).name == "cpu"
    # the settings the notebooks' asserts were checked against, on a GPU too; 'gpu' is opt-in
    assert get_preset("auto", torch.device("cuda")).name == "cpu"
    assert get_preset("gpu").name == "gpu"
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")


def test_preset_from_env(monkeypatch):
    monkeypatch.setenv("COURSE_PRESET", "tiny")
    assert get_preset().name == "tiny"


def test_runs_dir(tmp_path, monkeypatch):
    path = runs_dir("ch01", root=tmp_path)
    assert path == tmp_path / "ch01" and path.is_dir()
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "env"))
    assert runs_dir("x") == tmp_path / "env" / "x"
    assert (tmp_path / "env" / "x").is_dir()


def test_checkpoint_round_trip_equal_logits(tmp_path, tok):
    model = make_model(tok.vocab_size, block_size=24, n_layer=2, n_embd=16, seed=4)
    path = tmp_path / "sub" / "base.pt"
    save_checkpoint(path, model, {"preset": "tiny", "history": [{"step": 0, "loss": 1.5}]})
    assert path.exists()
    assert [p.name for p in path.parent.iterdir()] == ["base.pt"]  # no .tmp left behind
    loaded, extra = load_checkpoint(path, model_class=GPT)
    assert extra == {"preset": "tiny", "history": [{"step": 0, "loss": 1.5}]}
    assert loaded.config == model.config
    assert loaded.lm_head.weight is loaded.wte.weight  # still tied after loading
    idx = torch.randint(0, tok.vocab_size, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(idx), model(idx), atol=0, rtol=0)


def test_checkpoint_overwrite_is_atomic_replace(tmp_path, tok):
    path = tmp_path / "m.pt"
    save_checkpoint(path, make_model(tok.vocab_size, seed=1))
    second = make_model(tok.vocab_size, seed=2)
    save_checkpoint(path, second, None)
    loaded, extra = load_checkpoint(path, "cpu", model_class=GPT)
    assert extra == {}
    torch.testing.assert_close(loaded.wte.weight, second.wte.weight)
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_save_leaves_old_checkpoint(tmp_path, tok, monkeypatch):
    path = tmp_path / "m.pt"
    first = make_model(tok.vocab_size, seed=1)
    save_checkpoint(path, first)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, make_model(tok.vocab_size, seed=2))
    monkeypatch.undo()
    loaded, _ = load_checkpoint(path, model_class=GPT)
    torch.testing.assert_close(loaded.wte.weight, first.wte.weight)


def test_missing_checkpoint_explains_how_to_create_it(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint(missing, model_class=GPT)
    message = str(info.value)
    assert str(missing) in message
    assert "Train it first" in message
    assert "python -m ch01_what_is_reasoning" in message


def test_load_is_weights_only(tmp_path):
    """A pickle that would run code is refused, not executed."""
    path = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"config": {}, "model": Evil()}, path)
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        load_checkpoint(path, model_class=GPT)


def test_write_json(tmp_path):
    path = tmp_path / "results.json"
    write_json(path, {"accuracy": 0.5, "script": "۵"})
    assert json.loads(path.read_text()) == {"accuracy": 0.5, "script": "۵"}
    assert "۵" in path.read_text()  # ensure_ascii=False
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_the_environment_line_names_versions_and_hardware():
    import datasets
    import transformers

    from course.runtime import cpu_name, describe_environment

    line = describe_environment(torch.device("cpu"))
    for version in (torch.__version__, transformers.__version__, datasets.__version__):
        assert version in line
    assert line.endswith(cpu_name()) and "cpu:" in line
    if Path("/proc/cpuinfo").exists():
        has = "avx512" in Path("/proc/cpuinfo").read_text()
        assert cpu_name().endswith("with AVX-512" if has else "no AVX-512")
