"""Device, seeds, size presets and checkpoints: the plumbing every chapter shares."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

_DEVICE_PRINTED = False


def pick_device(prefer: str | None = None) -> torch.device:
    """cuda -> mps -> cpu, chosen once and printed once. `prefer` (or $COURSE_DEVICE) overrides."""
    global _DEVICE_PRINTED
    name = prefer or os.environ.get("COURSE_DEVICE")
    if not name:
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if not _DEVICE_PRINTED:
        print(f"device: {name}")
        _DEVICE_PRINTED = True
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch Generator for sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class Preset:
    """One knob for model size and step counts."""

    name: str
    n_layer: int
    n_head: int
    n_embd: int
    pretrain_steps: int
    batch_size: int
    lr: float
    corpus_docs: int
    eval_problems: int          # held-out problems per difficulty level
    sample_efficiency_sizes: tuple = (250, 1000, 4000)
    sample_efficiency_steps: int = 300
    sample_efficiency_model: tuple = (2, 4, 64)  # n_layer, n_head, n_embd
    extra: dict = field(default_factory=dict)


PRESETS = {
    # Unit tests: seconds, shows nothing.
    "tiny": Preset("tiny", n_layer=1, n_head=2, n_embd=32, pretrain_steps=30, batch_size=8,
                   lr=3e-3, corpus_docs=2000, eval_problems=20,
                   sample_efficiency_sizes=(20, 40), sample_efficiency_steps=10,
                   sample_efficiency_model=(1, 2, 32)),
    # A 2-core laptop CPU: still shows every effect the chapter claims. Small batches and many
    # steps: on this world, 16 documents x 3000 steps learned far more per second than
    # 64 x 750 (same tokens), because what is slow to learn is *where to look*, and that
    # takes updates, not tokens.
    "cpu": Preset("cpu", n_layer=4, n_head=4, n_embd=128, pretrain_steps=3000, batch_size=16,
                  lr=3e-3, corpus_docs=120_000, eval_problems=500,
                  sample_efficiency_sizes=(250, 1000, 4000), sample_efficiency_steps=2000,
                  sample_efficiency_model=(2, 4, 64)),
    # A GPU (a Colab T4 or better): a wider, deeper model trained longer.
    "gpu": Preset("gpu", n_layer=6, n_head=6, n_embd=192, pretrain_steps=8000, batch_size=64,
                  lr=2e-3, corpus_docs=600_000, eval_problems=2000,
                  sample_efficiency_sizes=(250, 1000, 4000, 16000),
                  sample_efficiency_steps=4000, sample_efficiency_model=(4, 4, 128)),
}


def get_preset(name: str | None = None, device: torch.device | None = None) -> Preset:
    """'auto' (or None, or $COURSE_PRESET) is 'gpu' on CUDA and 'cpu' elsewhere."""
    if name in (None, "auto"):
        name = os.environ.get("COURSE_PRESET") or "auto"
    if name == "auto":
        device = device or pick_device()
        name = "gpu" if device.type == "cuda" else "cpu"
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {sorted(PRESETS)} or 'auto'")
    return PRESETS[name]


def runs_dir(chapter: str, root: str | Path | None = None) -> Path:
    """runs/<chapter>/ under the repo (or $COURSE_RUNS_DIR, or `root`), created if missing."""
    base = Path(root or os.environ.get("COURSE_RUNS_DIR") or Path(__file__).resolve().parents[1] / "runs")
    path = base / chapter
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_save(obj, path: str | Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, model, extra: dict | None = None) -> None:
    """Write model weights + config atomically."""
    atomic_save({"config": model.config.to_dict(), "model": model.state_dict(),
                 "extra": extra or {}}, path)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu"):
    """Load a checkpoint saved by save_checkpoint (weights_only: no pickled code runs)."""
    from .model import GPT, GPTConfig

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}. Train it first (run the chapter's notebook or "
            f"`python -m ch01_what_is_reasoning`), or check the path.")
    state = torch.load(path, map_location=device, weights_only=True)
    model = GPT(GPTConfig(**state["config"])).to(device)
    model.load_state_dict(state["model"])
    return model, state.get("extra", {})


def write_json(path: str | Path, data) -> None:
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.replace(tmp, path)
