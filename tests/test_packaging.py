"""`pip install .` gives a working course outside the repository (as on Colab, where torch is
already installed): the chapter packages import and chapter 1 runs, from a fresh venv."""

import site
import subprocess
import venv
from importlib import metadata
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


def inherit_running_environment(env_dir):
    """A venv that sees this interpreter's packages (torch above all), as a Colab runtime sees
    its preinstalled ones. A `.pth` file in the new venv lists the running environment's
    site-packages, so it does not matter whether pytest runs from a venv or the system Python:
    the base interpreter's packages (whatever an earlier install left there) play no part."""
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    own_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              check=True, capture_output=True, text=True).stdout.strip()
    inherited = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        inherited.append(site.getusersitepackages())
    (Path(own_site) / "inherit_running_env.pth").write_text(
        "\n".join(p for p in inherited if Path(p).is_dir()) + "\n")
    return python


def test_pip_install_gives_a_working_course_in_a_fresh_venv(tmp_path):
    # The course is installed from a copy of the repository, not in editable mode, with the
    # running environment's pip and setuptools (offline: no build isolation, no index).
    # setuptools older than 70.1 has no bdist_wheel of its own ("invalid command 'bdist_wheel'"
    # without the `wheel` package): requirements.txt brings a newer one.
    setuptools = metadata.version("setuptools")
    assert tuple(int(n) for n in setuptools.split(".")[:2]) >= (70, 1), (
        f"setuptools {setuptools} cannot build the course offline: "
        "pip install -r requirements.txt")
    python = inherit_running_environment(tmp_path / "venv")
    env_dir = tmp_path / "venv"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", str(ROOT)], check=True, cwd=tmp_path)
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
