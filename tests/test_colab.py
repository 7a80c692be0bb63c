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


def test_the_setup_cell_is_safe_to_rerun(monkeypatch, tmp_path):
    repo = "https://github.com/someone/my-fork"
    source = colab.setup_cell(repo)
    root = "/content/my-fork"
    calls, cloned = [], set()

    def run(args, check):
        calls.append(args)
        if args[:2] == ["git", "clone"]:
            cloned.add(args[-1])

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(os.path, "exists", lambda p: p in cloned)
    monkeypatch.setattr(os, "chdir", lambda p: calls.append(["chdir", p]))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for _ in range(3):
        exec(compile(source, "setup-cell", "exec"), {})
    clones = [c for c in calls if c[:2] == ["git", "clone"]]
    installs = [c for c in calls if "pip" in c]
    assert clones == [["git", "clone", "--depth", "1", repo, root]]
    assert installs == [[sys.executable, "-m", "pip", "install", "-q", "-e", root]]
    assert not any("torch" in " ".join(c) for c in installs)      # Colab keeps its own torch
    assert [c for c in calls if c[0] == "chdir"] == [["chdir", root]] * 3   # absolute, every time
    assert sys.path.count(root) == 1


def test_the_setup_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    exec(compile(colab.setup_cell(colab.repository()), "setup-cell", "exec"), {})
