"""A chapter's claims as numbers: each effect a notebook asserts, the value it reads from the
chapter's results.json and the threshold its assert cell uses. benchmarks/seeds.py measures
every effect on several seeds and commits the table (benchmarks/results/seeds.json); a notebook
prints its own run's value next to that spread with `spread_lines`."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

STUDY = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "seeds.json"


@dataclass(frozen=True)
class Effect:
    """One asserted effect: `value` reads a number from results.json, and `op` ('>=', '>' or
    '<=') and `threshold` are the notebook's assert on it, said in words by `target`."""

    target: str
    value: object        # results.json (a dict) -> float, or None for a ratio over zero
    op: str
    threshold: float
    unit: str = "share"  # how a value reads: share (a %), points (a difference of shares),
                         # ratio (x times) or a plain number (tokens, ms, curve points)

    def show(self, value: float | None) -> str:
        """`value` as the notebook's text quotes it: 26.6%, +12.3 points, 0.45x, 4.0."""
        if value is None:
            return "-"
        return {"share": f"{value:.1%}", "points": f"{100 * value:+.1f} pt",
                "ratio": f"{value:.2f}x"}.get(self.unit, f"{value:.1f}")

    def holds(self, value: float | None) -> bool:
        if value is None:   # a ratio over zero: the notebook's assert would fail on it too
            return False
        return {">=": value >= self.threshold, ">": value > self.threshold,
                "<=": value <= self.threshold}[self.op]


def ratio(a: float, b: float) -> float | None:
    """a / b, or None (JSON's null) when b is 0."""
    return a / b if b else None


def spread(values: list[float | None]) -> dict:
    """Mean, min and max of the values that are numbers."""
    numbers = [v for v in values if v is not None]
    if not numbers:
        return {"mean": None, "min": None, "max": None}
    return {"mean": statistics.fmean(numbers), "min": min(numbers), "max": max(numbers)}


def committed_study(path: Path = STUDY) -> dict:
    """The seed study the repository commits (benchmarks/seeds.py --commit wrote it)."""
    if not path.exists():
        raise FileNotFoundError(f"no seed study at {path}: run `python benchmarks/seeds.py "
                                f"--commit` (about an hour on a 2-core CPU)")
    return json.loads(path.read_text())


def spread_lines(effects: dict[str, Effect], results: dict, study: dict,
                 key: str = "values") -> list[str]:
    """One line per effect: this run's value, the study's min and max over its seeds and on how
    many of them the threshold held (`key`: 'values' for the base fixed, 'base_values' for
    seeds that pretrain the base again)."""
    seeds = study["seeds" if key == "values" else "base_seeds"]
    width = max(map(len, effects), default=6)     # the name column: as wide as the longest name
    lines = [f"{'effect':<{width}} {'this run':>9}{'min':>9}{'max':>9}  holds on seeds {seeds}"]
    everywhere = []
    for name, effect in effects.items():
        entry = study["effects"].get(name, {})
        if key not in entry:
            continue
        s, here = spread(entry[key]), effect.value(results)
        cells = "".join(f"{effect.show(v):>9}" for v in (here, s["min"], s["max"]))
        held = sum(effect.holds(v) for v in entry[key])
        lines.append(f"{name:<{width}} {cells}  {held} of {len(entry[key])}")
        everywhere.append(held == len(entry[key]))
    lines.append(f"{sum(everywhere)} of {len(everywhere)} checks hold on every seed")
    return lines


def plot_spread(effects: dict[str, Effect], results: dict, study: dict, key: str = "values",
                columns: int = 3, path=None):
    """One small panel per effect: its value on each seed of the study (dots), this run's (a
    ring) and the notebook's threshold (the dashed line; the shaded side fails)."""
    import matplotlib.pyplot as plt

    names = [n for n in effects if key in study["effects"].get(n, {})]
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 1.15 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        effect, values = effects[name], [v for v in study["effects"][name][key] if v is not None]
        here = effect.value(results)
        points = values + [effect.threshold] + ([here] if here is not None else [])
        low, high = min(points), max(points)
        pad = 0.15 * (high - low) or 0.05 * max(abs(high), 1e-3)
        low, high = low - pad, high + pad
        failing = (low, effect.threshold) if effect.op != "<=" else (effect.threshold, high)
        ax.axvspan(*failing, color="tab:red", alpha=0.08)
        ax.axvline(effect.threshold, color="tab:red", ls="--", lw=1)
        ax.scatter(values, [0] * len(values), color="tab:blue", s=18, zorder=3)
        if here is not None:
            ax.scatter([here], [0], facecolors="none", edgecolors="black", s=80, zorder=4)
        ax.set_xlim(low, high)
        ax.set_yticks([])
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("each check over seeds: dots = seeds, ring = this run, dashed = threshold",
                 fontsize=9)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    return fig
