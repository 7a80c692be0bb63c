"""Shared fixtures: tiny models, the tokenizer, and an environment that never goes online."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `from helpers import ...` works in every pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Nothing in the unit tests may touch the network.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.pop("COURSE_ONLINE", None)
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from helpers import make_model  # noqa: E402

from ch01_what_is_reasoning.tokenizer import CharTokenizer  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tok() -> CharTokenizer:
    return CharTokenizer()


@pytest.fixture
def tiny_model(tok):
    return make_model(tok.vocab_size, scale=10.0)


@pytest.fixture(scope="session")
def tiny_ch02_runs(tmp_path_factory):
    """A runs folder with every stage of chapter 2's tiny recipe trained, once per session:
    tests copy it before they change anything."""
    from ch02_r1_pipeline.runner import Pipeline
    from course.runtime import get_preset

    root = tmp_path_factory.mktemp("tiny-ch02-runs")
    Pipeline(get_preset("tiny"), torch.device("cpu"), root, progress=False).run_all()
    return root
