"""Chapter 1's claims as numbers: one `Effect` per assert in the notebook's last cells, with the
same threshold (course/effects.py; benchmarks/seeds.py measures them over seeds that pretrain
the base again)."""

from __future__ import annotations

from course.effects import Effect, ratio


def _level(r, style, n_ops):
    """Accuracy of `style` at `n_ops` operations (results.json's keys are strings, the notebook's
    dict's are ints)."""
    by_ops = r["accuracy_by_operations"][style]
    return by_ops[n_ops] if n_ops in by_ops else by_ops[str(n_ops)]


def _by_size(r, style):
    """Accuracies of the sample-efficiency runs of `style`, smallest training set first."""
    sizes = sorted(r["sample_efficiency"][style], key=int)
    return [r["sample_efficiency"][style][n] for n in sizes]


EFFECTS = {
    "step_by_step_hardest": Effect(
        "step by step at least 90% on the hardest level",
        lambda r: _level(r, "step_by_step", 5), ">=", 0.90),
    "step_minus_direct_hardest": Effect(
        "step by step at least 30 points above direct on the hardest level",
        lambda r: _level(r, "step_by_step", 5)
        - _level(r, "direct", 5), ">=", 0.30, "points"),
    "one_operation_both_styles": Effect(
        "both styles at least 95% on one operation",
        lambda r: min(_level(r, s, 1) for s in ("direct", "step_by_step")),
        ">=", 0.95),
    "efficiency_smallest_gap": Effect(
        "worked steps beat direct answers at every training-set size (smallest gap)",
        lambda r: min(r["sample_efficiency"]["step_by_step"][n] - r["sample_efficiency"]["direct"][n]
                      for n in r["sample_efficiency"]["direct"]), ">", 0.0, "points"),
    "efficiency_growth": Effect(
        "worked steps at least 20 points better at the largest size than the smallest",
        lambda r: _by_size(r, "step_by_step")[-1] - _by_size(r, "step_by_step")[0], ">=", 0.2, "points"),
    "efficiency_gap_largest": Effect(
        "worked steps at least 20 points above direct at the largest size",
        lambda r: _by_size(r, "step_by_step")[-1] - _by_size(r, "direct")[-1], ">=", 0.2, "points"),
    "thinking_token_ratio": Effect(
        "thinking costs at least 3x the tokens on the hardest level",
        lambda r: ratio(r["cost"]["step_by_step"]["tokens"], r["cost"]["direct"]["tokens"]),
        ">=", 3.0, "ratio"),
    "thinking_time": Effect(
        "thinking takes longer on the hardest level (milliseconds per answer, step by step - direct)",
        lambda r: r["cost"]["step_by_step"]["ms"] - r["cost"]["direct"]["ms"], ">", 0.0, "number"),
    "seen_facts": Effect(
        "seen facts answered at least 90% right",
        lambda r: r["knowledge"]["seen_accuracy"], ">=", 0.90),
    "unseen_answer_rate": Effect(
        "unseen facts answered anyway, at least 90% of the time",
        lambda r: r["knowledge"]["unseen_answer_rate"], ">=", 0.90),
    "unseen_over_chance": Effect(
        "unseen facts at most 10 points above chance, direct and step by step",
        lambda r: max(r["knowledge"]["unseen_accuracy"], r["knowledge"]["unseen_accuracy_step_by_step"])
        - r["knowledge"]["chance_accuracy"], "<=", 0.10, "points"),
    "overthinking_token_ratio": Effect(
        "on one operation, step by step spends at least 3x the tokens",
        lambda r: ratio(r["overthinking"]["step_by_step"]["tokens"],
                         r["overthinking"]["direct"]["tokens"]), ">=", 3.0, "ratio"),
    "overthinking_accuracy_gain": Effect(
        "on one operation, step by step at most 1 point more accurate",
        lambda r: r["overthinking"]["step_by_step"]["accuracy"]
        - r["overthinking"]["direct"]["accuracy"], "<=", 0.01, "points"),
}
