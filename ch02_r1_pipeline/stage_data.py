"""The saved data of the recipe's data stages (rejection sampling): a `datasets.Dataset` in a
folder next to a JSON file with its recipe and a hash of its content, written so that a stopped
run leaves the old data, the new data or none, and read back only when recipe and content agree.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
from datasets import load_from_disk

from course.cache import set_aside, what_changed

if TYPE_CHECKING:
    from .runner import Pipeline


DATA_COLUMNS = ("prompt", "completion", "kind")


def data_hash(data) -> str:
    """sha256 of a data set's content: its prompt, completion and kind columns, in order."""
    digest = hashlib.sha256()
    for column in DATA_COLUMNS:
        digest.update(json.dumps([column, list(data[column])], ensure_ascii=False).encode())
    return digest.hexdigest()


def save_data(data, data_dir: Path) -> None:
    """Save `data` to a temporary folder next to `data_dir`, then rename it into place: a run
    stopped at any moment leaves the old data, the new data or none, never half of one. The
    caller holds the data's writer lock (leftovers of stopped runs are cleared here)."""
    parent = data_dir.parent
    for leftover in parent.glob(f".{data_dir.name}.*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
    new = Path(tempfile.mkdtemp(dir=parent, prefix=f".{data_dir.name}.", suffix=".partial"))
    old = None
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar for a one-second save is noise
    try:
        data.save_to_disk(str(new))
        if data_dir.exists() or data_dir.is_symlink():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{data_dir.name}.", suffix=".partial"))
            data_dir.rename(old / data_dir.name)
        new.rename(data_dir)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def load_data(data_dir: Path):
    """A data stage's saved `datasets.Dataset`, read into memory. One with no rows is saved by
    `datasets` with no Arrow file, which `load_from_disk` cannot read back: built from its
    features here."""
    state = json.loads((data_dir / "state.json").read_text())
    if isinstance(state, dict) and state.get("_data_files") == []:
        info = json.loads((data_dir / "dataset_info.json").read_text())
        features = datasets.Features.from_dict(info["features"])
        return datasets.Dataset.from_dict({k: [] for k in features}, features=features)
    return load_from_disk(str(data_dir), keep_in_memory=True)


def _set_aside_folder(path: Path) -> str:
    """Move a damaged data folder out of the way (kept as <name>.damaged); returns that name."""
    aside = path.with_name(path.name + ".damaged")
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside)
    elif aside.exists() or aside.is_symlink():
        aside.unlink()
    path.replace(aside)
    return aside.name


def _error_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def saved_recipe(pipeline: Pipeline, name: str):
    """The recipe a data stage's JSON file records (None if there is none or it is unreadable)."""
    try:
        meta = json.loads((pipeline.dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("recipe") if isinstance(meta, dict) else None


def saved_data(pipeline: Pipeline, name: str, recipe_: dict):
    """(meta, data) of data stage `name` as saved in runs/, if `recipe_` made it and the data is
    the content its JSON file records (data in memory), else (None, why not). Data whose recipe
    is missing or does not match its content, and a damaged data folder, are moved aside
    (`.damaged`; the reason says so). The caller holds the data's writer lock."""
    meta_path, data_dir = pipeline.dir / f"{name}.json", pipeline.data_dir(name)
    if not meta_path.exists() and not data_dir.exists():
        return None, "not trained yet"
    if not meta_path.exists():
        return None, (f"{data_dir.name} has no recipe ({meta_path.name} is missing: a run "
                      f"stopped before writing it) (moved to {_set_aside_folder(data_dir)})")
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("recipe", {}), dict):
            raise ValueError("not a recipe file of this course")
    except (OSError, ValueError) as err:
        moved = [set_aside(meta_path).name]
        if data_dir.exists():
            moved.append(_set_aside_folder(data_dir))
        return None, (f"cannot use {meta_path.name}: it is damaged ({_error_line(err)}) "
                      f"(moved to {' and '.join(moved)})")
    reason = what_changed(meta.get("recipe"), recipe_)
    if reason is not None:
        return None, reason
    if not data_dir.exists():
        return None, (f"its data {data_dir.name} is missing (a run stopped while replacing it, "
                      f"or it was deleted) (moved {meta_path.name} to {set_aside(meta_path).name})")
    if not meta.get("content_sha256"):
        return None, (f"{meta_path.name} records no hash of its data's content (an older version "
                      f"of the course wrote it)")
    try:
        data = load_data(data_dir)
        content = data_hash(data)
    except Exception as err:   # a missing or damaged Arrow file, a foreign folder, ...
        return None, (f"cannot use {data_dir.name}: it is damaged or incomplete "
                      f"({_error_line(err)}) (moved to {_set_aside_folder(data_dir)})")
    if content != meta["content_sha256"]:
        return None, (f"cannot use {data_dir.name}: its content is not the data {meta_path.name} "
                      f"describes (a run stopped after saving new data, before its recipe) "
                      f"(moved to {_set_aside_folder(data_dir)} and {set_aside(meta_path).name})")
    return meta, data
