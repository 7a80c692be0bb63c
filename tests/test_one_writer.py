"""One writer per runs folder: two runs started together on one folder both finish, and every
saved artefact's recipe describes its contents; a data set checks its recipe against its own
content; a stage killed while it is scored keeps its training; a changed test set is scored
again. All at the tiny preset."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ch01_what_is_reasoning.experiments import pretrain_base
from ch01_what_is_reasoning.model import GPT
from ch02_r1_pipeline import runner as runner_module
from ch02_r1_pipeline.grpo import GRPOTrainer
from ch02_r1_pipeline.recipe import DATA_KINDS
from ch02_r1_pipeline.runner import Pipeline
from ch02_r1_pipeline.stage_data import data_hash, load_data
from course.cache import fingerprint, plain
from course.locks import lock_path, writer_lock
from course.runtime import get_preset, load_checkpoint

KNOWLEDGE = "rejection_sampling.knowledge_examples"


def _pipeline(root, overrides=None):
    return Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False,
                    overrides=overrides)


# ------------------------------------------------------------------ the lock itself
HOLD = textwrap.dedent("""
    import fcntl, sys, time
    with open(sys.argv[1], "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_a_second_writer_says_who_it_waits_for_and_waits(tmp_path, capsys):
    target = tmp_path / "base.pt"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path(target)), "1.0"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.perf_counter()
    with writer_lock(target):
        waited = time.perf_counter() - start
    holder.wait(timeout=10)
    assert waited > 0.3
    out = capsys.readouterr().out
    assert out == (f"base.pt: another process is writing {target}; waiting for it to finish\n")


def test_the_lock_is_reentrant_in_a_process_and_free_after_its_block(tmp_path, capsys):
    target = tmp_path / "r1.pt"
    with writer_lock(target):
        with writer_lock(target):   # a stage asked for again while it runs: no deadlock
            pass
    # free again: another process takes it at once (it would wait, and say so, otherwise)
    probe = subprocess.run([sys.executable, "-c", HOLD, str(lock_path(target)), "0"],
                           capture_output=True, text=True, timeout=10)
    assert probe.stdout.strip() == "held"
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ two runs, one folder
def _start(chapter: str, root: Path, *sets: str):
    env = {**os.environ, "COURSE_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = [sys.executable, "-m", chapter, "--preset", "tiny", "--runs", str(root), "--quiet"]
    for s in sets:
        args += ["--set", s]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _finish(procs):
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in out + err, (out + err)[-3000:]
        outs.append(out)
    return outs


def _check_checkpoint(path: Path, recipes: list[dict]):
    """The checkpoint loads, its fingerprint is its recipe's, and that recipe is one of the
    runs' recipes of that stage; returns its info."""
    _, info = load_checkpoint(path, model_class=GPT)
    assert info["fingerprint"] == fingerprint(info["recipe"]), path
    assert info["recipe"] in [plain(r) for r in recipes], path
    return info


def _check_ch02_folder(root: Path, pipelines: dict):
    """Every artefact of chapter 2 in `root` is what its recipe says. `pipelines` maps a
    knowledge_examples setting to the pipeline of that run."""
    runs = list(pipelines.values())
    folder = root / "ch02"
    assert not list(folder.glob("*.partial")) and not list(folder.glob(".*.partial"))
    assert not list(folder.glob("*.state.pt")) and not list(folder.glob("*.damaged"))
    metas = {}
    for name, stage in runs[0].stages.items():
        if stage.kind in DATA_KINDS:
            meta = json.loads((folder / f"{name}.json").read_text())
            data = load_data(folder / f"{name}_data")
            assert data_hash(data) == meta["content_sha256"], name
            assert meta["fingerprint"] == fingerprint(meta["recipe"]), name
            assert meta["recipe"] in [plain(p.stage_recipe(name)) for p in runs], name
            assert list(data["kind"]).count("knowledge") \
                == meta["recipe"]["settings"]["knowledge_examples"] == meta["knowledge_examples"]
            metas[name] = meta
        else:
            _check_checkpoint(runs[0].path(name), [p.stage_recipe(name) for p in runs])
    for name, stage in runs[0].stages.items():
        if stage.kind != "sft" or len(stage.inputs) < 2 or stage.settings.examples > 0:
            continue   # (an SFT stage with examples > 0 trains on program-written traces)
        data_stage = stage.inputs[1]
        info = _check_checkpoint(runs[0].path(name), [p.stage_recipe(name) for p in runs])
        claimed = info["recipe"]["inputs"][data_stage]
        made_by = [p for p in runs if p.fingerprint(data_stage) == claimed]
        assert made_by, (name, "claims data no run made")
        knowledge = made_by[0].stage(data_stage).settings.knowledge_examples
        # the examples it trained on are the data its recipe names: same reasoning traces
        # (one teacher), the knowledge examples of that recipe
        assert info["examples"] == metas[data_stage]["reasoning_examples"] + knowledge, name
        if claimed == metas[data_stage]["fingerprint"]:
            assert info["data"]["content_sha256"] == metas[data_stage]["content_sha256"], name
    results = json.loads((folder / "results.json").read_text())
    assert results["preset"] == "tiny"


# Fewer problems scored than the tiny preset's (neither is part of any recipe): the runs' time
# goes to what they share and race on, not to scoring.
CH01_FAST = ("eval_problems=4",)
CH02_FAST = ("test_problems=3",)


@pytest.mark.parametrize("trial", range(3))
def test_two_runs_started_together_on_one_folder_both_finish_and_agree(tmp_path, trial):
    """Trial 0: chapter 1 twice (one trains the base, the other waits and loads it); then
    chapter 2 twice with different rejection-sampling data (which chapter 2's stages are
    made from which data, and when, differs from trial to trial)."""
    root = tmp_path / "runs"
    knowledge = (4, 6)
    if trial == 0:
        procs = [_start("ch01_what_is_reasoning", root, *CH01_FAST) for _ in range(2)]
    else:
        procs = [_start("ch02_r1_pipeline", root, *CH02_FAST, f"{KNOWLEDGE}={k}")
                 for k in knowledge]
    _finish(procs)
    info = _check_checkpoint(root / "ch01" / "base.pt", [_pipeline(root).stage_recipe("base")])
    assert info["preset"] == "tiny"
    assert not list((root / "ch01").glob("*.partial")) and not list((root / "ch01").glob(".*"))
    if trial > 0:
        _check_ch02_folder(root, {k: _pipeline(root, {KNOWLEDGE: k, "test_problems": 3})
                                  for k in knowledge})


# ------------------------------------------------------------------ one process, on a copy
@pytest.fixture
def trained(tiny_ch02_runs, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(tiny_ch02_runs, root)
    return root


def _fail(*args, **kwargs):
    raise AssertionError("trained again")


def test_chapter_1_and_chapter_2_wait_for_the_same_base(trained, capsys):
    """Both chapters write runs/ch01/base.pt (chapter 1's pretrain_base, chapter 2's
    Pipeline.run): both wait for the one lock while another process holds it."""
    base = trained / "ch01" / "base.pt"
    line = f"base.pt: another process is writing {base}; waiting for it to finish\n"
    for load in (lambda: _pipeline(trained).run("base"),
                 lambda: pretrain_base(get_preset("tiny"), torch.device("cpu"), base,
                                       progress=False)[2]):
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path(base)), "0.5"],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        assert load()["loaded"] is True
        holder.wait(timeout=10)
        assert capsys.readouterr().out == line


def test_new_data_under_an_old_recipe_is_set_aside_and_rebuilt(trained, monkeypatch, capsys):
    real_write = runner_module.write_json

    def killed_before_the_recipe(path, data):
        if Path(path).name == "rejection_sampling.json":
            raise KeyboardInterrupt("killed between the data and its recipe")
        return real_write(path, data)

    monkeypatch.setattr(runner_module, "write_json", killed_before_the_recipe)
    with pytest.raises(KeyboardInterrupt):
        _pipeline(trained, {KNOWLEDGE: 6}).run("rejection_sampling")   # new data, old recipe
    monkeypatch.undo()
    capsys.readouterr()

    p = _pipeline(trained)
    info = p.run("rejection_sampling")
    out = capsys.readouterr().out
    assert out == ("rejection_sampling: retraining — cannot use rejection_sampling_data: its "
                   "content is not the data rejection_sampling.json describes (a run stopped "
                   "after saving new data, before its recipe) (moved to "
                   "rejection_sampling_data.damaged and rejection_sampling.json.damaged)\n")
    assert info["loaded"] is False
    folder = trained / "ch02"
    assert (folder / "rejection_sampling_data.damaged").is_dir()
    assert (folder / "rejection_sampling.json.damaged").exists()
    data = p.sft_data()
    assert list(data["kind"]).count("knowledge") == 4
    assert data_hash(data) == json.loads((folder / "rejection_sampling.json").read_text())["content_sha256"]
    assert "retraining" not in capsys.readouterr().out


def test_a_missing_arrow_file_is_set_aside_and_rebuilt(trained, capsys):
    folder = trained / "ch02" / "rejection_sampling_data"
    (arrow,) = folder.glob("*.arrow")
    arrow.unlink()
    p = _pipeline(trained)
    pairs = p.sft_pairs()
    out = capsys.readouterr().out
    assert out.startswith("rejection_sampling: retraining — cannot use rejection_sampling_data: "
                          "it is damaged or incomplete (FileNotFoundError: ")
    assert out.endswith("(moved to rejection_sampling_data.damaged)\n") and out.count("\n") == 1
    assert p.info["rejection_sampling"]["loaded"] is False
    assert (trained / "ch02" / "rejection_sampling_data.damaged").is_dir()
    assert len(pairs) == p.info["rejection_sampling"]["reasoning_examples"] + 4
    assert _pipeline(trained).run("rejection_sampling")["loaded"] is True


def test_data_replaced_by_another_run_is_made_again_before_training_on_it(trained, capsys):
    mine = _pipeline(trained)
    assert mine.run("rejection_sampling")["loaded"] is True
    _pipeline(trained, {KNOWLEDGE: 6}).run("rejection_sampling")   # another run, another recipe
    capsys.readouterr()
    data = mine.sft_data()
    out = capsys.readouterr().out
    assert out == ("rejection_sampling: another run on this runs folder replaced "
                   "rejection_sampling_data with data of another recipe; making this run's "
                   "again\nrejection_sampling: retraining — knowledge_examples changed (6 -> 4)\n")
    assert list(data["kind"]).count("knowledge") == 4
    meta = json.loads((trained / "ch02" / "rejection_sampling.json").read_text())
    assert meta["fingerprint"] == mine.fingerprint("rejection_sampling")


def test_a_grpo_stage_killed_while_scored_keeps_its_training(trained, monkeypatch):
    change = {"r1.lr": 3e-5}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while scoring the four splits")

    monkeypatch.setattr(runner_module, "evaluate_splits", killed)
    with pytest.raises(KeyboardInterrupt):
        _pipeline(trained, change).run("r1")
    state = trained / "ch02" / "r1.state.pt"
    assert state.exists()
    monkeypatch.undo()

    monkeypatch.setattr(GRPOTrainer, "train_step", _fail)   # resumed at its last step
    p = _pipeline(trained, change)
    info = p.run("r1")
    assert info["loaded"] is False
    assert [h["step"] for h in info["history"]] == list(range(p.stage("r1").settings.steps))
    assert not state.exists()   # deleted once the checkpoint is saved
    assert _pipeline(trained, change).run("r1")["loaded"] is True


def test_a_changed_test_set_scores_every_stage_again(trained, monkeypatch):
    for name in ("train_step",):
        monkeypatch.setattr(GRPOTrainer, name, _fail)
    monkeypatch.setattr(runner_module, "sft", _fail)
    monkeypatch.setattr(runner_module, "pretrain_base", _fail)
    before = _pipeline(trained).run("r1_zero")["eval"]
    assert before["n_problems"] == 12 and before["test"]["problems"] == 12

    info = _pipeline(trained, {"test_problems": 24}).run("r1_zero")
    assert info["loaded"] is True
    assert info["eval"]["n_problems"] == info["eval"]["sampled"]["n_problems"] == 24
    assert info["eval"]["test"]["problems"] == 24
    assert info["eval"]["splits"]["signature"]["sizes"]["harder"] == 8
    # saved with its checkpoint: the next run with 24 problems reads it back as it is
    monkeypatch.setattr(runner_module, "evaluate", _fail)
    monkeypatch.setattr(runner_module, "evaluate_splits", _fail)
    assert _pipeline(trained, {"test_problems": 24}).run("r1_zero")["eval"]["n_problems"] == 24
