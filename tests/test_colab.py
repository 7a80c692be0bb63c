"""Colab: every badge and setup cell comes from the one URL in pyproject.toml; while that URL is
the placeholder nothing links to it; the setup cell is safe to re-run."""

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import colab  # noqa: E402

PLACEHOLDER = "https://github.com/REPLACE_WITH_OWNER/reasoning-llms-from-scratch"
FORK = "https://github.com/someone/my-fork"


def test_the_committed_readme_and_notebooks_are_what_the_tool_writes():
    assert colab.disagreements() == [], "run: python tools/colab.py"


@pytest.fixture
def course(tmp_path):
    """A copy of the README, pyproject.toml and every notebook: the tool rewrites these, never
    the real files."""
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for path in colab.notebooks():
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return tmp_path


def set_repository(root, url):
    path = root / "pyproject.toml"
    text = re.sub(r'^repository = ".*"$', f'repository = "{url}"', path.read_text(), flags=re.M)
    path.write_text(text)
    assert colab.repository(root) == url


def texts(root):
    """Every file the tool writes, as text."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in colab.targets(root)}


def cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def chapter_notebooks(root):
    """The notebooks the README's rows link to (the solutions are linked without a badge)."""
    return [p for p in colab.notebooks(root) if p.parent.name == "notebooks"]


def test_the_placeholder_is_linked_nowhere(course):
    assert colab.repository(course) == PLACEHOLDER and not colab.published(PLACEHOLDER)
    colab.rewrite(root=course)
    for name, text in texts(course).items():
        assert "REPLACE_WITH_OWNER" not in text, name
        assert "colab.research.google.com/github" not in text, name
        assert "colab-badge" not in text, name
        assert "git clone" not in text and '"clone"' not in text, name
    readme = (course / "README.md").read_text()
    for path in chapter_notebooks(course):        # the rows keep their plain links
        name = path.relative_to(course).as_posix()
        assert f"[`{path.stem}`]({name}) |" in readme, name
    for path in colab.notebooks(course):
        first, setup = cells(path)[:2]
        assert first.startswith("# ") and "\n\n\n" not in first, path.name
        assert setup == colab.setup_cell(PLACEHOLDER), path.name
    assert colab.rewrite(root=course) == []         # written once, then nothing changes
    assert colab.main(["--check"], root=course) == 0


def test_a_real_url_gets_badges_and_the_cloning_setup_cell(course):
    colab.rewrite(root=course)                      # from the placeholder state, badge-less
    placeholder_state = texts(course)
    set_repository(course, FORK)
    assert colab.main(["--check"], root=course) == 1
    assert colab.main([], root=course) == 0
    assert colab.main(["--check"], root=course) == 0
    readme = (course / "README.md").read_text()
    assert readme.count("colab-badge.svg") == len(chapter_notebooks(course)) == 8
    for path in colab.notebooks(course):
        name = path.relative_to(course).as_posix()
        first, setup = cells(path)[:2]
        assert first.startswith("# ")
        assert first.split("\n")[2] == colab.notebook_badge(FORK, name)   # under the title
        assert colab.badge_url(FORK, name) == (
            f"https://colab.research.google.com/github/someone/my-fork/blob/main/{name}")
        assert setup == colab.SETUP_CELL.format(url=FORK, name="my-fork")
        assert f'REPO_URL = "{FORK}"' in setup and '"clone"' in setup
        if path.parent.name == "notebooks":
            assert f"[`{path.stem}`]({name}){colab.readme_badge(FORK, name)} |" in readme
    for text in texts(course).values():
        assert "REPLACE_WITH_OWNER" not in text
    # and back: the placeholder takes every badge and every clone out again
    set_repository(course, PLACEHOLDER)
    colab.rewrite(root=course)
    assert texts(course) == placeholder_state


def test_the_tool_leaves_everything_else_alone(course):
    before = {p: json.loads(p.read_text()) for p in colab.notebooks(course)}
    set_repository(course, FORK)
    colab.rewrite(root=course)
    for path, nb in before.items():
        after = json.loads(path.read_text())
        assert len(after["cells"]) == len(nb["cells"])
        for i, (old, new) in enumerate(zip(nb["cells"], after["cells"])):
            assert {k: v for k, v in old.items() if k != "source"} == \
                   {k: v for k, v in new.items() if k != "source"}
            if i > 1:
                assert old["source"] == new["source"], (path.name, i)


def test_named_files_only(course):
    set_repository(course, FORK)
    assert colab.main(["README.md"], root=course) == 0
    assert colab.disagreements(root=course) == [
        p.relative_to(course).as_posix() for p in colab.notebooks(course)]


def test_a_url_colab_cannot_open_is_refused():
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        colab.setup_cell("https://gitlab.com/someone/my-fork")


def run_setup_cell(monkeypatch, source, times, fail_installs=0, existing=()):
    """Run the setup cell `times` times as if on Colab, with git and pip faked (the first
    `fail_installs` installs fail as pip does) and only the paths in `existing` on disk.
    Returns the commands it ran."""
    calls, existing, failures = [], set(existing), [fail_installs]

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


@pytest.mark.parametrize("repo", [PLACEHOLDER, FORK])
def test_the_setup_cell_does_nothing_outside_colab(monkeypatch, repo):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    monkeypatch.setattr(os, "chdir", lambda p: pytest.fail("changed folder"))
    exec(compile(colab.setup_cell(repo), "setup-cell", "exec"), {})


def test_unpublished_the_setup_cell_stops_on_colab_saying_what_to_do(monkeypatch):
    with pytest.raises(RuntimeError) as info:
        run_setup_cell(monkeypatch, colab.setup_cell(PLACEHOLDER), times=1)
    message = str(info.value)
    assert message.startswith(colab.NO_REPOSITORY) and colab.NO_REPOSITORY == (
        "this copy of the course has no published repository yet; upload the repository folder "
        "or set [tool.course] repository and run tools/colab.py")
    assert "/content/reasoning-llms-from-scratch" in message      # where an upload goes
    assert "http" not in colab.setup_cell(PLACEHOLDER)


def test_unpublished_an_uploaded_folder_is_installed_and_used(monkeypatch):
    root = "/content/reasoning-llms-from-scratch"
    calls = run_setup_cell(monkeypatch, colab.setup_cell(PLACEHOLDER), times=2,
                           existing={root + "/pyproject.toml"})
    assert not any("git" in c for c in calls)
    assert [c for c in calls if "pip" in c] == [[sys.executable, "-m", "pip", "install", "-q", "-e", root]]
    assert [c for c in calls if c[0] == "chdir"] == [["chdir", root]] * 2
