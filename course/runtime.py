"""Device, seeds, size presets and checkpoints: the plumbing every chapter shares."""

from __future__ import annotations

import json
import os
import pickle
import random
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

_DEVICE_PRINTED = False
_MPS_NOTED = False
MPS_UNTESTED = ("note: MPS is untested: no chapter has been run or measured on Apple silicon "
                "(COURSE_DEVICE=cpu is the tested path)")


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA when torch sees a GPU, else the CPU; chosen once and printed once. `prefer` (or
    $COURSE_DEVICE) overrides. Apple's MPS is used only when asked for (`COURSE_DEVICE=mps`),
    and then one line says it is untested: no run on Apple silicon has been measured.

    An asked-for device this machine lacks is refused here, before any work, rather than
    failing minutes later inside the first tensor copy.
    """
    global _DEVICE_PRINTED, _MPS_NOTED
    name = prefer or os.environ.get("COURSE_DEVICE")
    if name:
        _check_device(name, "device" if prefer else "COURSE_DEVICE")
    else:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not _DEVICE_PRINTED:
        print(f"device: {name}")
        _DEVICE_PRINTED = True
    device = torch.device(name)
    if device.type == "mps" and not _MPS_NOTED:
        print(MPS_UNTESTED)
        _MPS_NOTED = True
    return device


def _check_device(name: str, source: str) -> None:
    """Raise a ValueError saying what to do when device `name` cannot be used here.
    `source` says where the name came from: 'COURSE_DEVICE' (the environment) or 'device'."""
    where = f"COURSE_DEVICE={name}" if source == "COURSE_DEVICE" else f"device {name!r}"
    fix = ("unset COURSE_DEVICE (the course then picks cuda or cpu itself) or set it to "
           "cpu" if source == "COURSE_DEVICE" else "pass 'cpu', or None to let the course pick")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{where} is not a device this course runs on: use cpu, cuda or mps; "
                         f"{fix}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{where} asks for a CUDA GPU, but torch sees none on this machine "
                         f"(torch.cuda.is_available() is False); {fix}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{where} asks for GPU number {device.index}, but this machine has "
                         f"{torch.cuda.device_count()}; {fix}")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps and mps.is_available()):
        raise ValueError(f"{where} asks for Apple's MPS, but torch cannot use it on this machine "
                         f"(torch.backends.mps.is_available() is False); {fix}")


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 (the two CPU types the course was measured
    on compute different numbers: float rounding differs, and RL amplifies it)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:   # not Linux: platform's word for it
        import platform
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{model}, {'with' if 'avx512' in info else 'no'} AVX-512"


def describe_environment(device: torch.device | None = None) -> str:
    """One line naming what computed a notebook's numbers: library versions, the CPU or GPU.
    Numbers from another line may differ (the README's "Your numbers may differ")."""
    import platform

    import datasets
    import transformers

    device = device or pick_device()
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{os.cpu_count()} cores of {cpu_name()}")
    return (f"Python {platform.python_version()}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}, datasets {datasets.__version__}; {device.type}: {hardware}")


def seeded_name(name: str, seed: int) -> str:
    """The string that seeds the random stream `name` under the course seed `seed`: seed 0 keeps
    the stream the course always drew ('rejection-sampling-r1'), any other seed a new one."""
    return name if seed == 0 else f"{name}-seed{seed}"


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch Generator for sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class ModelShape:
    """The size knobs of a GPT, as settings hold them (the vocabulary comes from the tokenizer;
    `GPTConfig.from_shape` in ch01_what_is_reasoning.model makes a model's config of one)."""

    n_layer: int
    n_head: int
    n_embd: int


@dataclass(frozen=True)
class Preset:
    """One knob for model size and step counts. Change a setting with
    `override(preset, lr=1e-3)` (course.overrides) or `--set lr=1e-3`."""

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
    sample_efficiency_model: ModelShape = ModelShape(2, 4, 64)
    # The course-wide seed (`--set seed=N` on every chapter's CLI): pretraining order, RL
    # prompts, sampling and evaluation draws all start from it. 0 is the seed every committed
    # notebook ran with; benchmarks/seeds.py reruns the chapters with others.
    seed: int = 0


PRESETS = {
    # Unit tests: seconds, shows nothing.
    "tiny": Preset("tiny", n_layer=1, n_head=2, n_embd=32, pretrain_steps=30, batch_size=8,
                   lr=3e-3, corpus_docs=2000, eval_problems=20,
                   sample_efficiency_sizes=(20, 40), sample_efficiency_steps=10,
                   sample_efficiency_model=ModelShape(1, 2, 32)),
    # A 2-core laptop CPU: still shows every effect the chapter claims. Small batches and many
    # steps: on this world, 16 documents x 3000 steps learned far more per second than
    # 64 x 750 (same tokens), because what is slow to learn is *where to look*, and that
    # takes updates, not tokens.
    "cpu": Preset("cpu", n_layer=4, n_head=4, n_embd=128, pretrain_steps=3000, batch_size=16,
                  lr=3e-3, corpus_docs=120_000, eval_problems=500,
                  sample_efficiency_sizes=(250, 1000, 4000), sample_efficiency_steps=2000,
                  sample_efficiency_model=ModelShape(2, 4, 64)),
    # EXPERIMENTAL, opt-in (--preset gpu): a wider, deeper model trained longer, for a GPU.
    # It has never been run end to end, so its effects are unchecked; `auto` does not pick it.
    "gpu": Preset("gpu", n_layer=6, n_head=6, n_embd=192, pretrain_steps=8000, batch_size=64,
                  lr=2e-3, corpus_docs=600_000, eval_problems=2000,
                  sample_efficiency_sizes=(250, 1000, 4000, 16000),
                  sample_efficiency_steps=4000, sample_efficiency_model=ModelShape(4, 4, 128)),
}


# What `auto` picks on each device. The CPU preset's settings everywhere, a GPU included: they
# are the settings every notebook's assert cells were checked against, and a GPU runs them
# faster. The larger 'gpu' preset stays opt-in until a GPU run of it has been measured.
AUTO_PRESET = {"cuda": "cpu", "mps": "cpu", "cpu": "cpu"}


def get_preset(name: str | None = None, device: torch.device | None = None) -> Preset:
    """'auto' (or None, or $COURSE_PRESET) is the 'cpu' preset's settings on every device (see
    AUTO_PRESET); 'gpu' is an experimental opt-in."""
    if name in (None, "auto"):
        name = os.environ.get("COURSE_PRESET") or "auto"
    if name == "auto":
        device = device or pick_device()
        name = AUTO_PRESET.get(device.type, "cpu")
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {sorted(PRESETS)} or 'auto'")
    return PRESETS[name]


class RunsFolderError(OSError):
    """The runs folder cannot be created or written to."""


def check_writable(folder: str | Path) -> Path:
    """Create `folder` if needed and prove it is writable (write and delete a probe file), so a
    bad runs folder is reported before any training, not when the first result is saved."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass  # deleted on close
    except OSError as e:
        reason = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e)
        raise RunsFolderError(
            f"cannot write to the runs folder {folder} ({reason}). Pass --runs DIR or set "
            f"COURSE_RUNS_DIR to a folder you can write to.") from e
    return folder


def runs_dir(chapter: str, root: str | Path | None = None) -> Path:
    """runs/<chapter>/ under the repo (or $COURSE_RUNS_DIR, or `root`), created if missing and
    checked to be writable (RunsFolderError if not)."""
    base = Path(root or os.environ.get("COURSE_RUNS_DIR") or Path(__file__).resolve().parents[1] / "runs")
    return check_writable(base / chapter)


class NonFiniteError(ValueError):
    """A tensor about to be saved (or just loaded) holds NaN or infinity."""


def non_finite_entries(obj, where: str = "") -> list[str]:
    """The names of the floating-point tensors inside `obj` (dicts, lists, tuples) that hold a
    NaN or an infinity: ['model.lm_head.weight', ...]."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
            return [where or "tensor"]
        return []
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return []
    return [name for key, value in items
            for name in non_finite_entries(value, f"{where}.{key}" if where else str(key))]


def check_finite(where: str, *, loss=None, model=None) -> None:
    """Stop training the moment a loss or a weight is NaN or infinite (NonFiniteError naming
    `where`): every later step, and the cache, would only carry the poison on."""
    if loss is not None and not bool(torch.isfinite(loss).all()):
        raise NonFiniteError(f"{where}: the loss is {loss.item()}: training diverged (lower the "
                             f"learning rate, or check the rewards and the data)")
    if model is not None:
        bad = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise NonFiniteError(f"{where}: the weights {', '.join(bad[:3])} became NaN or "
                                 f"infinite: training diverged (lower the learning rate)")


def _temporary_path(path: Path) -> Path:
    """A temporary file next to `path`, unique to this writer (two processes saving the same
    file never share one), removed by the caller if the write fails."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    return Path(name)


def _replace_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_save(obj, path: str | Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written file.
    A NaN or infinity anywhere in `obj` is refused (NonFiniteError): the cache never keeps a
    poisoned model for the next run to resume."""
    path = Path(path)
    bad = non_finite_entries(obj)
    if bad:
        raise NonFiniteError(f"refusing to save {path.name}: {', '.join(bad[:3])}"
                             f"{' and more' if len(bad) > 3 else ''} hold NaN or infinity "
                             f"(training diverged: lower the learning rate or check the rewards)")
    _replace_atomically(path, lambda tmp: torch.save(obj, tmp))


def save_checkpoint(path: str | Path, model, extra: dict | None = None) -> None:
    """Write model weights + config atomically."""
    atomic_save({"config": model.config.to_dict(), "model": model.state_dict(),
                 "extra": extra or {}}, path)


class CheckpointError(Exception):
    """A checkpoint or state file exists but cannot be used (damaged, truncated, empty, not
    one of ours, or made with another tokenizer). `path` and `reason` say which and why."""

    def __init__(self, message: str, path: Path | None = None, reason: str = ""):
        super().__init__(message)
        self.path, self.reason = path, reason


def _unreadable(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(
        f"cannot use {path}: {reason}. Delete it or move it aside and rerun; the chapter "
        f"retrains it.", path, reason)


def _first_line(error: Exception) -> str:
    """The first line of an error (torch's weights-only errors run to many paragraphs)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def load_state(path: str | Path, map_location: torch.device | str = "cpu") -> dict:
    """torch.load with weights_only=True (a crafted pickle is refused, its code never runs);
    any file that is not a readable dict raises CheckpointError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    try:
        # torch.load does not check the zip's CRCs, so bytes damaged inside the weights would
        # load silently as other weights; testzip reads the file once and checks them (ms/MB).
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"checksum mismatch in {bad}")
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, empty, plain text, unsafe pickle, ...: one error class
        if isinstance(e, pickle.UnpicklingError) and "weights only" in str(e).lower():
            reason = ("it holds Python objects that only running code could rebuild, and "
                      "torch.load(weights_only=True) refuses those (the course never writes them)")
        else:
            reason = f"it is damaged or not a file this course wrote ({_first_line(e)})"
        raise _unreadable(path, reason) from e
    if not isinstance(state, dict):
        raise _unreadable(path, f"it holds a {type(state).__name__}, not a dict")
    bad = non_finite_entries(state)
    if bad:   # written before the course refused to save such files: never resume from it
        raise _unreadable(path, f"{', '.join(bad[:3])} hold NaN or infinity")
    return state


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    vocab_size: int | None = None, *, model_class):
    """Load a checkpoint saved by save_checkpoint (weights_only: no pickled code runs), as a
    `model_class` (the course's GPT, ch01_what_is_reasoning.model.GPT), built from its saved
    config as a `model_class.config_class`.

    A file that is not such a checkpoint raises CheckpointError, as does one whose vocabulary
    differs from `vocab_size` (the tokenizer it will be used with), when given.
    """

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}. Train it first (run the chapter's notebook or "
            f"`python -m ch01_what_is_reasoning`), or check the path.")
    state = load_state(path, device)
    if not isinstance(state.get("config"), dict) or not isinstance(state.get("model"), dict):
        raise _unreadable(path, "it is not a model checkpoint (no 'config' and 'model' entries)")
    try:
        config = model_class.config_class(**state["config"])
    except TypeError as e:
        raise _unreadable(path, f"its model config does not fit this course's GPT ({e})") from e
    if vocab_size is not None and config.vocab_size != vocab_size:
        raise _unreadable(path, f"it was made with another tokenizer: its vocabulary has "
                                f"{config.vocab_size} tokens, the tokenizer in use has {vocab_size}")
    try:
        model = model_class(config).to(device)
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError, AssertionError) as e:
        raise _unreadable(path, f"its weights do not fit its config ({_first_line(e)})") from e
    extra = state.get("extra", {})
    return model, extra if isinstance(extra, dict) else {}


def write_json(path: str | Path, data) -> None:
    """Write `data` as JSON atomically. NaN and infinity are refused (ValueError): they are not
    JSON, and a results file holding them could not be read back."""
    path = Path(path)
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    _replace_atomically(path, lambda tmp: tmp.write_text(text))
