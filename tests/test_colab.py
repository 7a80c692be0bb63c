"""Colab: every badge and setup cell comes from the one URL in pyproject.toml, and the setup
cell is safe to re-run."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import colab  # noqa: E402


def test_every_badge_and_setup_cell_agrees_with_the_one_url():
    assert colab.disagreements() == [], "run: python tools/colab.py"
    repo = colab.repository()
    readme = (ROOT / "README.md").read_text()
    for path in colab.notebooks():
        if path.parent.name != "notebooks":
            continue
        name = f"notebooks/{path.name}"
        assert colab.badge_url(repo, name) in readme, name
        cells = json.loads(path.read_text())["cells"]
        assert colab.badge_url(repo, name) in "".join(cells[0]["source"]), name
        assert "".join(cells[1]["source"]) == colab.setup_cell(repo), name


def test_a_fork_url_would_rewrite_every_badge_and_setup_cell():
    wrong = colab.disagreements("https://github.com/someone/my-fork")
    assert "README.md" in wrong
    assert {f"notebooks/{p.name}" for p in colab.notebooks() if p.parent.name == "notebooks"} <= set(wrong)


def run_setup_cell(monkeypatch, source, times, fail_installs=0):
    """Run the setup cell `times` times as if on Colab, with git and pip faked (the first
    `fail_installs` installs fail as pip does). Returns the commands it ran."""
    calls, existing, failures = [], set(), [fail_installs]

    def run(args, check):
        calls.append(args)
        if args[:2] == ["git", "clone"]:
            existing.add(args[-1] + "/.git")
        if "pip" in args and failures[0] > 0:
            failures[0] -= 1
            raise subprocess.CalledProcessError(1, args)

    class Marker:
        def __init__(self, path, mode):
            existing.add(path)

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(os.path, "exists", lambda p: p in existing)
    monkeypatch.setattr(os, "chdir", lambda p: calls.append(["chdir", p]))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for _ in range(times):
        try:
            exec(compile(source, "setup-cell", "exec"), {"open": Marker})
        except subprocess.CalledProcessError:
            calls.append(["the cell failed"])
    return calls


def test_the_setup_cell_is_safe_to_rerun(monkeypatch, tmp_path):
    repo = "https://github.com/someone/my-fork"
    root = "/content/my-fork"
    calls = run_setup_cell(monkeypatch, colab.setup_cell(repo), times=3)
    clones = [c for c in calls if c[:2] == ["git", "clone"]]
    installs = [c for c in calls if "pip" in c]
    assert clones == [["git", "clone", "--depth", "1", repo, root]]
    assert installs == [[sys.executable, "-m", "pip", "install", "-q", "-e", root]]
    assert not any("torch" in " ".join(c) for c in installs)      # Colab keeps its own torch
    assert [c for c in calls if c[0] == "chdir"] == [["chdir", root]] * 3   # absolute, every time
    assert sys.path.count(root) == 1


def test_a_failed_install_is_tried_again_not_reported_done(monkeypatch):
    calls = run_setup_cell(monkeypatch, colab.setup_cell("https://github.com/someone/my-fork"),
                           times=3, fail_installs=1)
    installs = [i for i, c in enumerate(calls) if "pip" in c]
    assert len(installs) == 2                                # failed, then tried again and done
    assert calls[installs[0] + 1] == ["the cell failed"]     # the failure is shown, not hidden
    assert [c for c in calls if c[:2] == ["git", "clone"]].__len__() == 1   # the clone is kept
    assert [c for c in calls if c[0] == "chdir"].__len__() == 2


def test_the_setup_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    exec(compile(colab.setup_cell(colab.repository()), "setup-cell", "exec"), {})
