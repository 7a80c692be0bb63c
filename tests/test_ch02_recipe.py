"""Chapter 2's recipe as data, at the tiny preset: stages are reused only when today's settings
made them, a change retrains exactly the stages downstream of it (and says so), and no cache
file can run code or crash a chapter."""

import os
import pickle
import shutil

import pytest
import torch

from ch01_what_is_reasoning.__main__ import main as ch01_main
from ch01_what_is_reasoning.model import GPT
from ch02_r1_pipeline import runner as runner_module
from ch02_r1_pipeline.__main__ import main as ch02_main
from ch02_r1_pipeline.recipe import SETTINGS, recipe
from ch02_r1_pipeline.runner import KINDS, Pipeline
from course.overrides import OverrideError
from course.runtime import CheckpointError, RunsFolderError, get_preset, load_checkpoint

STAGES = tuple(recipe(get_preset("tiny"), SETTINGS["tiny"]))


def _pipeline(root, overrides=None):
    return Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False, overrides=overrides)


def downstream(table, stage):
    """Every stage that needs `stage`, directly or not, and `stage` itself."""
    found = {stage}
    for name, s in table.items():   # the table is in running order
        if found & set(s.inputs):
            found.add(name)
    return found


@pytest.fixture
def trained(tiny_ch02_runs, tmp_path_factory, monkeypatch):
    """A runs folder of its own with every tiny stage trained (a copy, so a test may damage or
    retrain it), and a recorder of which stages train."""
    root = tmp_path_factory.mktemp("runs")
    shutil.copytree(tiny_ch02_runs, root, dirs_exist_ok=True)
    ran = []
    for kind, run in list(KINDS.items()):
        def recording(pipeline, stage, *args, _run=run):
            ran.append(stage.name)
            return _run(pipeline, stage, *args)
        monkeypatch.setitem(KINDS, kind, recording)
    return root, ran


def _trained_now(ran, pipeline):
    """Stages that trained (rejection sampling's kind function also runs to load its data)."""
    return {s for s in ran if pipeline.info[s].get("loaded") is False}


def test_a_second_run_loads_everything(trained, capsys):
    root, ran = trained
    p = _pipeline(root)
    p.run_all()
    assert _trained_now(ran, p) == set()
    assert all(p.info[s]["loaded"] for s in p.stages)
    assert "retraining" not in capsys.readouterr().out


@pytest.mark.parametrize("key, value", [("r1_sft.lr", 1e-3), ("cold_start.examples", 6),
                                        ("r1_zero.reward_weights.format", 0.5),
                                        ("rejection_sampling.k", 1)])
def test_a_changed_stage_retrains_it_and_what_follows_it_only(trained, capsys, key, value):
    root, ran = trained
    stage = key.split(".")[0]
    p = _pipeline(root, {key: value})
    p.run_all()
    expected = downstream(p.stages, stage)
    assert _trained_now(ran, p) == expected
    out = capsys.readouterr().out
    assert f"{stage}: retraining — {key.split('.')[1]} changed" in out
    for other in expected - {stage}:
        assert f"{other}: retraining —" in out and "changed" in out
    assert sum("retraining" in line for line in out.splitlines()) == len(expected)
    # ... and going back to the old setting retrains them again (the cache says what made it)
    ran.clear()
    q = _pipeline(root)
    q.run_all()
    assert _trained_now(ran, q) == expected


def test_a_changed_chapter_1_setting_retrains_the_base_and_everything_after_it(trained, capsys):
    root, ran = trained
    p = _pipeline(root, {"base.pretrain_steps": 31})
    p.run_all()
    assert _trained_now(ran, p) == downstream(p.stages, "base")
    assert "base: retraining — pretrain_steps changed (30 -> 31)" in capsys.readouterr().out
    # chapter 1's own run sees that the base in runs/ch01 was made by other settings
    ch01_main(["--preset", "tiny", "--runs", str(root), "--quiet"])
    assert "base: retraining — pretrain_steps changed (31 -> 30)" in capsys.readouterr().out


def test_a_checkpoint_of_another_shape_is_never_reused(trained, capsys):
    root, ran = trained
    p = _pipeline(root, {"student_base.n_embd": 8, "student_base.n_head": 2})
    p.run("student_base")
    assert p.model("student_base").config.n_embd == 8
    assert "student_base: retraining — n_embd changed (16 -> 8), n_head changed" in capsys.readouterr().out


def test_unknown_keys_and_wrong_types_are_clear_errors(tmp_path):
    with pytest.raises(OverrideError, match=r"stage r1_zero: unknown setting 'lrr'.*valid keys: .*\blr\b"):
        _pipeline(tmp_path, {"r1_zero.lrr": 1.0})
    with pytest.raises(OverrideError, match=r"unknown setting 'tset_problems'.*stages: base"):
        _pipeline(tmp_path, {"tset_problems": 5})
    with pytest.raises(OverrideError, match="group_size must be a int"):
        _pipeline(tmp_path, {"r1.group_size": "many"})
    assert "r1_zero.lr" in _pipeline(tmp_path).settings_keys()


def test_the_cli_takes_set_and_reports_a_bad_key(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        ch02_main(["--preset", "tiny", "--runs", str(tmp_path), "--quiet", "--set", "r1_zero.lrr=1"])
    assert exit_.value.code == 2
    assert "unknown setting 'lrr'" in capsys.readouterr().err


class _RunsCode:
    """A pickle that would create a marker file when unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickles_in_runs_are_refused_without_running_code(trained, capsys):
    root, ran = trained
    marker = root / "code_ran"
    torch.save({"fingerprint": "x", "trainer": _RunsCode(marker), "curve": []},
               root / "ch02" / "r1_zero.state.pt")
    torch.save({"config": _RunsCode(marker), "model": {}}, root / "ch02" / "r1.pt")
    with pytest.raises(CheckpointError, match="r1.pt"):
        load_checkpoint(root / "ch02" / "r1.pt", model_class=GPT)
    p = _pipeline(root, {"r1_zero.lr": 3e-4})   # r1_zero retrains and meets the state file
    p.run("r1_zero")
    p.run("r1")
    assert not marker.exists()
    out = capsys.readouterr().out
    assert "r1_zero: not resuming — cannot use r1_zero.state.pt" in out
    assert "r1: retraining — cannot use r1.pt" in out and "moved to r1.pt.damaged" in out
    assert (root / "ch02" / "r1.pt.damaged").exists() and (root / "ch02" / "r1.pt").exists()
    assert {"r1_zero", "r1"} <= _trained_now(ran, p)


@pytest.mark.parametrize("damage", ["truncate", "empty", "foreign"])
def test_a_damaged_base_is_moved_aside_and_retrained_by_the_cli(tmp_path, capsys, damage):
    ch01_main(["--preset", "tiny", "--runs", str(tmp_path), "--quiet"])
    path = tmp_path / "ch01" / "base.pt"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    capsys.readouterr()
    ch01_main(["--preset", "tiny", "--runs", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert "base: retraining — cannot use base.pt" in out and "moved to base.pt.damaged" in out
    model, _ = load_checkpoint(path, model_class=GPT)   # a good one again
    assert model.num_params() > 0


def test_an_unwritable_runs_folder_is_reported_before_any_training(monkeypatch):
    def fail(*a, **kw):
        raise AssertionError("trained before checking the runs folder")

    monkeypatch.setattr(runner_module, "pretrain_base", fail)
    with pytest.raises(RunsFolderError, match="/proc/forbidden"):
        ch02_main(["--preset", "tiny", "--runs", "/proc/forbidden", "--quiet"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_runs_folder_is_reported(tmp_path):
    tmp_path.chmod(0o500)
    with pytest.raises(RunsFolderError):
        _pipeline(tmp_path / "runs")


def test_pickle_used_by_the_crafted_file_really_runs_code(tmp_path):
    """The payload above is real: plain pickle would have run it."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_RunsCode(marker)))
    assert marker.exists()


def test_rejection_sampling_draws_problems_of_its_own_lengths(trained, monkeypatch):
    from ch01_what_is_reasoning.arithmetic import is_held_out
    from ch02_r1_pipeline.tasks import RL_OPS

    root, _ = trained
    drawn = []
    real = runner_module.rejection_sample

    def recording(model, tokenizer, problems, **kw):
        drawn.extend(problems)
        return real(model, tokenizer, problems, **kw)

    monkeypatch.setattr(runner_module, "rejection_sample", recording)
    p = _pipeline(root, {"rejection_sampling.ops": (6,)})
    p.run("rejection_sampling")
    assert len(drawn) == p.stage("rejection_sampling").settings.prompts
    assert {q.n_ops for q in drawn} == {6} and not any(map(is_held_out, drawn))
    # at the cpu preset R1's SFT set is broader than RL's prompts (one length more); the cold
    # start keeps R1-Zero's own RL lengths
    cpu = recipe(get_preset("cpu"), SETTINGS["cpu"])
    assert cpu["rejection_sampling"].settings.ops == (*RL_OPS, 6)
    assert cpu["cold_start_data"].settings.ops == RL_OPS


def test_the_fair_control_draws_r1s_problem_lengths_and_follows_them(trained, monkeypatch):
    """R1-Zero's fair control trains on prompts of the lengths R1's SFT set has (2-6 at the cpu
    preset), follows a changed `rejection_sampling.ops`, and leaves R1-Zero's own recipe alone."""
    from ch02_r1_pipeline.tasks import RL_OPS

    cpu = recipe(get_preset("cpu"), SETTINGS["cpu"])
    assert cpu["r1_zero_same_problems"].ops == cpu["rejection_sampling"].settings.ops == (*RL_OPS, 6)
    assert cpu["r1_zero"].ops == RL_OPS and cpu["r1_zero_same_problems"].inputs == ("base",)
    assert (cpu["r1_zero_same_problems"].settings.reward_weights
            == cpu["r1_zero"].settings.reward_weights)
    root, ran = trained
    drawn = []
    real = runner_module.rl_prompts

    def recording(rng, n, ops=RL_OPS):
        drawn.append(ops)
        return real(rng, n, ops=ops)

    monkeypatch.setattr(runner_module, "rl_prompts", recording)
    p = _pipeline(root, {"rejection_sampling.ops": (6,)})
    before = _pipeline(root)
    assert p.fingerprint("r1_zero") == before.fingerprint("r1_zero")
    assert p.fingerprint("r1_zero_same_problems") != before.fingerprint("r1_zero_same_problems")
    p.run("r1_zero_same_problems")
    assert "r1_zero_same_problems" in ran and set(drawn) == {(6,)}
