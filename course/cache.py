"""Cached models that know what made them.

Every cached artefact (a checkpoint, a data set) stores its *recipe*: the settings that
produced it, the world it was trained on and the fingerprints of its inputs. A cache is reused
only when the recipe of today's settings has the same fingerprint; otherwise the chapter says
in one line what changed and trains it again, so a student who changes a learning rate never
looks at the old results by mistake.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from .runtime import CheckpointError, load_checkpoint, save_checkpoint


def plain(value):
    """Dataclasses, tuples and dicts as JSON-ready values (for recipes and fingerprints)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return getattr(value, "__name__", repr(value))   # a function: its name


def fingerprint(recipe: dict) -> str:
    """A short stable hash of a recipe (its canonical JSON)."""
    text = json.dumps(plain(recipe), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seal(results: dict) -> dict:
    """`results` with a `checksum` of everything else in it, so a chapter that reads another's
    results.json can tell the file that chapter wrote from an edited or damaged one."""
    body = {k: v for k, v in results.items() if k != "checksum"}
    return {**body, "checksum": fingerprint(body)}


def is_sealed(results) -> bool:
    """True when `results` carries the checksum `seal` gives it (nothing changed since)."""
    return (isinstance(results, dict) and "checksum" in results
            and seal(results)["checksum"] == results["checksum"])


def what_changed(saved: dict | None, recipe: dict) -> str | None:
    """None when `saved` is the same recipe, else a short reason: 'lr changed', 'cold_start
    changed' (an input), 'the world changed'."""
    if not saved:
        return "it was made by an older version of the course"
    saved, recipe = plain(saved), plain(recipe)
    if saved == recipe:
        return None
    reasons = []
    for part in ("settings", "inputs", "world"):
        old, new = saved.get(part) or {}, recipe.get(part) or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                if part == "settings":
                    reasons.append(f"{key} changed ({_short(old.get(key))} -> {_short(new.get(key))})")
                elif part == "inputs":
                    reasons.append(f"{key} changed")
                else:
                    reasons.append(f"the world's {key} changed")
    for key in sorted(set(saved) | set(recipe)):
        if key not in ("settings", "inputs", "world") and saved.get(key) != recipe.get(key):
            reasons.append(f"{key} changed")
    return ", ".join(reasons) or "its recipe changed"


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def set_aside(path: Path) -> Path:
    """Move a damaged cache file out of the way (kept for inspection, never loaded again)."""
    aside = path.with_name(path.name + ".damaged")
    path.replace(aside)
    return aside


def load_cached(path, recipe: dict, device, name: str, vocab_size: int | None = None, *, model_class):
    """(model, info) from the checkpoint at `path` if it was made by this `recipe`, else
    (None, reason); the model is a `model_class` (see runtime.load_checkpoint). A damaged file is
    moved aside (and said so); nothing else is printed here."""
    path = Path(path)
    if not path.exists():
        return None, "not trained yet"
    try:
        model, info = load_checkpoint(path, device, vocab_size=vocab_size, model_class=model_class)
    except CheckpointError as err:
        return None, f"cannot use {path.name}: {err.reason} (moved to {set_aside(path).name})"
    reason = what_changed(info.get("recipe"), recipe)
    if reason is None:
        return model, {**info, "loaded": True}
    return None, reason


def save_cached(path, model, recipe: dict, info: dict) -> None:
    """Save a checkpoint with its recipe and fingerprint."""
    save_checkpoint(path, model, {**info, "recipe": plain(recipe), "fingerprint": fingerprint(recipe)})


def say_retraining(name: str, reason: str) -> None:
    """The one line a chapter prints when a cache cannot be used."""
    if reason != "not trained yet":
        print(f"{name}: retraining — {reason}")
