"""tools/times.py: every measured time is recorded once (benchmarks/results/*.json) and written
from there into benchmarks/README.md and the times blocks of the README and WORKSHOP.md; `check`
fails when any of them, or a re-executed notebook, disagrees. Plus the README's shape for a
newcomer: short, and the two commands first."""

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import colab  # noqa: E402
import times  # noqa: E402

EPYC = "AMD EPYC, AVX-512, 2 cores"
OTHER = "x86, no AVX-512, 2 cores"
T0 = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.timezone.utc)


def stamp(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def make_notebook(path: Path, durations, start=0.0, sections=None, untimed=()) -> Path:
    """A notebook whose code cells ran for `durations` seconds one after another (0.01 s apart),
    as nbclient records them; `sections` puts a '## heading' cell before code cell i."""
    cells, t = [{"cell_type": "markdown", "metadata": {}, "source": ["# A notebook\n"]}], start
    for i, d in enumerate(durations):
        if sections and i in sections:
            cells.append({"cell_type": "markdown", "metadata": {}, "source": [f"## {sections[i]}\n", "text"]})
        execution = {"iopub.status.busy": stamp(t), "iopub.execute_input": stamp(t),
                     "shell.execute_reply": stamp(t + d), "iopub.status.idle": stamp(t + d)}
        cells.append({"cell_type": "code", "execution_count": i + 1, "outputs": [],
                      "metadata": {} if i in untimed else {"execution": execution},
                      "source": [f"x = {i}\n"]})
        t += d + 0.01
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.fixture
def course(tmp_path):
    """A copy of the README and WORKSHOP.md, with one executed notebook and no results yet."""
    for name in ("README.md", "WORKSHOP.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    make_notebook(tmp_path / "notebooks" / "01_what_is_reasoning.ipynb", [10, 60, 20],
                  sections={1: "Pretraining the base model"})
    return tmp_path


def rows(root, name="notebook_times.json", key="notebooks"):
    return json.loads((root / "benchmarks" / "results" / name).read_text())[key]


def record(root, *args):
    return times.main(["record", *map(str, args)], root=root)


def test_recording_a_notebook_gives_its_seconds_and_longest_cell(course):
    nb = course / "notebooks" / "01_what_is_reasoning.ipynb"
    assert record(course, nb, "--machine", EPYC, "--note", "empty runs/") == 0
    (row,) = rows(course)
    assert row["notebook"] == "01_what_is_reasoning"
    assert row["seconds"] == 90.0                 # first start to last reply: 10 + 60 + 20 + 2 gaps
    assert row["longest_cell"] == {"index": 3, "seconds": 60.0, "section": "Pretraining the base model"}
    assert row["date"] == "2026-12-04" and row["started"] == stamp(0)
    assert row["note"] == "empty runs/"
    assert row["machine"] == {"cpu": "AMD EPYC", "avx512": True, "cores": 2, "torch": None,
                              "device": "cpu", "gpu": None}
    assert times.machine_label(row["machine"]) == EPYC
    assert times.machine_label(times.parse_machine(OTHER)) == OTHER


def test_a_notebook_not_run_as_a_whole_is_refused(course):
    nb = make_notebook(course / "notebooks" / "02_r1_pipeline.ipynb", [1, 2, 3], untimed={1})
    assert record(course, nb, "--machine", EPYC) == 1
    assert not (course / "benchmarks" / "results" / "notebook_times.json").exists()


def test_newest_per_machine_type_other_types_kept(course):
    nb = course / "notebooks" / "01_what_is_reasoning.ipynb"
    record(course, nb, "--machine", EPYC)
    record(course, nb, "--machine", OTHER, "--torch", "2.5.1")
    make_notebook(nb, [10, 30, 20], start=3600)           # re-executed an hour later, faster
    record(course, nb, "--machine", EPYC)
    got = {times.machine_label(r["machine"]): r["seconds"] for r in rows(course)}
    assert got == {EPYC: 60.0, OTHER: 90.0}
    make_notebook(nb, [10, 60, 20])                         # an older run does not replace a newer
    record(course, nb, "--machine", EPYC)
    assert {times.machine_label(r["machine"]): r["seconds"] for r in rows(course)}[EPYC] == 60.0


def test_write_then_check_is_clean_and_a_hand_edit_fails(course):
    record(course, course / "notebooks" / "01_what_is_reasoning.ipynb", "--machine", EPYC,
           "--torch", "2.5.1")
    assert times.main(["check"], root=course) == 1          # README still holds the real numbers
    assert times.main(["write"], root=course) == 0
    assert times.main(["check"], root=course) == 0
    readme = (course / "README.md").read_text()
    block = times.block_of(readme)
    assert "| 1.5 |" in block                               # 90 s in the chapter 1 row
    assert "committed outputs: AMD EPYC, AVX-512, 2 cores, 2026-12-04, torch 2.5.1." in block
    assert "| not measured |" in block                      # rows of notebooks never recorded
    assert "| `01_what_is_reasoning` | 1.5 | 1.0: Pretraining the base model |" in (
        course / "WORKSHOP.md").read_text()
    assert "1.5 min (90 s)" in (course / "benchmarks" / "README.md").read_text()
    # the minutes, the committed-outputs line, the generated page: each edit by hand fails
    for name, old, new in [("README.md", "| 1.5 |", "| 1.4 |"), ("README.md", "torch 2.5.1", "torch 2.6"),
                           ("WORKSHOP.md", "| 1.5 |", "| 2 |"),
                           ("benchmarks/README.md", "90 s", "80 s")]:
        path = course / name
        text = path.read_text()
        path.write_text(text.replace(old, new, 1))
        assert times.main(["check"], root=course) == 1, name
        path.write_text(text)
    assert times.main(["check"], root=course) == 0
    # prose outside the blocks is the authors'
    (course / "README.md").write_text(readme.replace("## Chapters", "## The chapters"))
    assert times.main(["check"], root=course) == 0


def test_a_re_executed_notebook_must_be_re_recorded(course):
    nb = course / "notebooks" / "01_what_is_reasoning.ipynb"
    record(course, nb, "--machine", EPYC)
    solutions = make_notebook(course / "notebooks" / "solutions" / "01_what_is_reasoning_solutions.ipynb",
                              [1, 2])
    times.write(course)
    assert times.check(course) == [f"notebooks/solutions/{solutions.name}: executed but not recorded"]
    record(course, solutions, "--machine", EPYC)
    times.write(course)
    assert times.check(course) == []
    make_notebook(nb, [10, 30, 20], start=86400)
    assert any("01_what_is_reasoning.ipynb" in p for p in times.check(course))
    record(course, nb, "--machine", EPYC)
    times.write(course)
    assert times.check(course) == []


def test_ci_pytest_and_speed_records_join_the_table(course):
    record(course, course / "notebooks" / "01_what_is_reasoning.ipynb", "--machine", EPYC)
    assert times.main(["record-ci", "2401", "--machine", EPYC, "--date", "2026-12-03"], root=course) == 0
    assert times.main(["record-pytest", "2375", "--machine", EPYC, "--date", "2026-12-03",
                       "--note", "994 passed"], root=course) == 0
    speed = course / "speed.json"
    speed.write_text(json.dumps({"preset": "cpu", "train_speedup_vs_hf": {"median": 1.16, "q1": 1.13,
                                                                          "q3": 1.19, "n": 15},
                                 "mfu": 0.55, "grpo_step_ms": {"rollouts": 150.0, "total": 410.0}}))
    assert times.main(["record-speed", str(speed), "--machine", OTHER, "--date", "2026-12-07"],
                      root=course) == 0
    times.write(course)
    page = (course / "benchmarks" / "README.md").read_text()
    assert "| `.ci/run` from a clean clone (fresh venv, install, pytest) | 40.0 min (2401 s) |" in page
    assert ("39.6 min (2375 s) |  | 994 passed | AMD EPYC, AVX-512, 2 cores | torch not recorded "
            "| 2026-12-03 |") in page
    assert "| speed.py: train speedup vs hf | median 1.16 (IQR 1.13-1.19, n=15) |" in page
    assert f"| {OTHER} | torch not recorded | 2026-12-07 |" in page
    assert times.main(["check"], root=course) == 0


def test_colab_badges_in_the_readme_rows_survive(course):
    record(course, course / "notebooks" / "01_what_is_reasoning.ipynb", "--machine", EPYC)
    times.write(course)
    path = course / "README.md"
    path.write_text(colab.rewritten_readme(path.read_text(), "https://github.com/someone/my-fork"))
    assert "colab-badge.svg" in times.block_of(path.read_text())
    assert times.main(["check"], root=course) == 0


def test_the_committed_files_are_what_write_writes():
    run = subprocess.run([sys.executable, "tools/times.py", "check"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command == "pip install -r requirements.txt && pytest"
    test_block = ["```bash", ci_command, "```"]
    starts = [i for i in range(len(lines)) if lines[i:i + 3] == test_block]
    assert starts and starts[0] + 3 <= 30, "the test command, as .ci/run runs it, in the first 30 lines"
    first_30 = "\n".join(lines[:30])
    assert "pip install -r requirements.txt && jupyter lab notebooks/" in first_30
    block = times.block_of("\n".join(lines)).splitlines()
    assert all(len(line) <= 110 for line in block if line.startswith("|")), "chapter table rows"
    assert any(line.startswith("committed outputs: ") for line in block)
    assert not re.search(r"first edition", "\n".join(lines), re.I)
