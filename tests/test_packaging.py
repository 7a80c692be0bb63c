"""`pip install .` gives a working course outside the repository (as on Colab, where torch is
already installed): the chapter packages import and chapter 1 runs, from a fresh venv."""

import subprocess
import venv
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")   # Python 3.11+; the course itself runs on 3.10

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_declares_what_the_course_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("<")[0].split("=")[0].strip() for d in project["dependencies"]}
    assert {"torch", "transformers", "datasets", "tiktoken", "regex", "matplotlib", "tqdm",
            "numpy", "ipywidgets"} <= names
    torch_pin = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert "<" not in torch_pin                      # no upper pin: Colab keeps its own torch
    extras = project["optional-dependencies"]
    assert {"test", "real"} <= set(extras)
    assert any(d.startswith("trl") for d in extras["real"])


def test_pip_install_gives_a_working_course_in_a_fresh_venv(tmp_path):
    env_dir = tmp_path / "venv"
    # The machine's packages stand in for Colab's preinstalled ones (torch above all); the
    # course itself is installed from a copy of the repository, not in editable mode.
    venv.EnvBuilder(system_site_packages=True).create(env_dir)   # pip and setuptools: the machine's
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    str(ROOT)], check=True, cwd=tmp_path)
    code = ("import ch01_what_is_reasoning, ch02_r1_pipeline, ch03_four_methods, ch04_budget, sys; "
            "print(ch01_what_is_reasoning.__file__)")
    where = subprocess.run([python, "-c", code], check=True, cwd=tmp_path, capture_output=True,
                           text=True).stdout
    assert str(env_dir) in where                     # the installed copy, not the repository
    run = subprocess.run([python, "-m", "ch01_what_is_reasoning", "--preset", "tiny", "--runs",
                          str(tmp_path / "runs"), "--quiet"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "runs" / "ch01" / "results.json").exists()
