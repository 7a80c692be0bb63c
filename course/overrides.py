"""Typed overrides: change a setting from a notebook cell or with `--set key=value`.

Settings are dataclasses. `override(settings, {"lr": 2e-4})` returns a copy with the change
(like `dataclasses.replace`, but it also reaches into nested dataclasses and dicts with dotted
keys, "rl.lr", and it checks every key and type). `parse_sets(["lr=2e-4"])` turns command-line
strings into such a dict. A typo is an error that lists the valid keys, never silently ignored.
"""

from __future__ import annotations

import ast
import dataclasses
import math


class OverrideError(ValueError):
    """An override names a key that does not exist or gives a value of the wrong type."""


class SettingError(OverrideError):
    """A setting whose value is outside its range, in one line naming its dotted `key`:
    "r1.lr must be a finite number > 0, got -1" (the ranges: setting_ranges.py)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key

    def under(self, prefix: str) -> SettingError:
        """The same error for a setting that lives under `prefix` ('r1_zero.', 'rl.')."""
        if not prefix or self.key is None or not str(self).startswith(self.key):
            return self
        return SettingError(prefix + str(self), prefix + self.key)


def shown(value) -> str:
    """A value as an error message shows it: -1.0 as -1, a huge number or tuple cut short."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
        text = repr(int(value))
    else:
        text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def parse_sets(items) -> dict:
    """["r1_zero.lr=2e-4", "student_base.n_embd=96"] -> {"r1_zero.lr": 2e-4, ...}.

    Values are Python literals (numbers, True/False, strings, tuples, dicts); anything that is
    not a literal is kept as a string (so `--set teacher=r1` works without quotes)."""
    out = {}
    for item in items or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise OverrideError(f"--set takes key=value, got {item!r} (e.g. --set r1_zero.lr=2e-4)")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        out[key] = value
    return out


def split_overrides(settings, overrides: dict | None) -> tuple[dict, dict]:
    """(the overrides whose first key is a field of `settings`, the rest): a chapter keeps its
    own and passes the rest on (to chapter 2's pipeline, say)."""
    names = {f.name for f in dataclasses.fields(settings)}
    mine = {k: v for k, v in (overrides or {}).items() if k.partition(".")[0] in names}
    return mine, {k: v for k, v in (overrides or {}).items() if k not in mine}


def valid_keys(settings, prefix: str = "") -> list[str]:
    """Every key `override` accepts for `settings`, dotted for nested dataclasses."""
    keys = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        keys.append(prefix + f.name)
        if dataclasses.is_dataclass(value):
            keys += valid_keys(value, f"{prefix}{f.name}.")
    return keys


def override(settings, changes: dict | None = None, *, _path: str = "", **kwargs):
    """A copy of the dataclass `settings` with `changes` applied (dotted keys reach inside
    nested dataclasses and dicts). Unknown keys and wrongly typed values raise OverrideError."""
    changes = {**(changes or {}), **kwargs}
    if not changes:
        return settings
    names = {f.name for f in dataclasses.fields(settings)}
    direct, nested = {}, {}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise OverrideError(f"unknown setting {_path + key!r} for {type(settings).__name__}; "
                                f"valid keys: {', '.join(valid_keys(settings, _path))}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = coerce(getattr(settings, head), value, _path + key)
    for head, sub in nested.items():
        current = direct.get(head, getattr(settings, head))
        if dataclasses.is_dataclass(current):
            direct[head] = override(current, sub, _path=f"{_path}{head}.")
        elif isinstance(current, dict):
            direct[head] = {**current, **{k: coerce(current.get(k, 0.0), v, f"{_path}{head}.{k}")
                                          for k, v in sub.items()}}
        else:
            raise OverrideError(f"{_path + head!r} is a {type(current).__name__}, it has no keys "
                                f"to set (got {_path}{head}.{next(iter(sub))})")
    try:
        return dataclasses.replace(settings, **direct)
    except SettingError as err:   # refused by the dataclass itself (GRPOConfig.__post_init__)
        raise err.under(_path) from None


def coerce(current, value, key: str):
    """`value` in the type of the `current` value, or OverrideError saying what was expected."""
    kind = type(current)
    if dataclasses.is_dataclass(current):
        if isinstance(value, dict):
            return override(current, value, _path=f"{key}.")
        if isinstance(value, kind):
            return value
        if isinstance(value, (tuple, list)) and len(value) == len(dataclasses.fields(current)):
            return override(current, dict(zip((f.name for f in dataclasses.fields(current)), value)),
                            _path=f"{key}.")
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:   # an int too large for a float
                number = math.inf
            if not math.isfinite(number):   # NaN, inf and -inf are never a setting
                raise SettingError(f"{key} must be a finite number, got {shown(value)}", key)
            return number
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise SettingError(f"{key} must be a finite number, got {value!r}", key)
    elif kind in (tuple, list):
        if isinstance(value, (tuple, list)):
            if current and dataclasses.is_dataclass(current[0]):  # e.g. a tuple of model shapes
                return kind(coerce(current[0], v, f"{key}[{i}]") for i, v in enumerate(value))
            return kind(value)
    elif kind is dict:
        if isinstance(value, dict):
            return value
    elif current is None or isinstance(value, kind):
        return value
    raise OverrideError(f"{key} must be a {kind.__name__} (like its current value {current!r}), "
                        f"got {value!r}")
