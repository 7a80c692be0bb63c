"""Chapter 3's claims as numbers: one `Effect` per assert on an effect in the notebook's check
cells, with the same threshold (course/effects.py; benchmarks/seeds.py measures them over the
seeds of chapter 2's stages, chapter 3 scoring each seed's models)."""

from __future__ import annotations

from course.effects import Effect


def _scaling(r, key, n=None):
    """The base's accuracy with `key` ("majority", ...) at N samples, the headline N unless
    given (results.json's keys are strings, the notebook's dict's are ints)."""
    by_n = r["scaling"][key]
    n = r["headline_n"] if n is None else n
    return by_n[n] if n in by_n else by_n[str(n)]


def _greedy(r, model):
    return next(row["accuracy"] for row in r["methods"]
                if row["model"] == model and row["strategy"] == "greedy")


def _on_split(r, model, strategy):
    """Accuracy of one row of the table on the harder split (`strategy` may hold {n})."""
    strategy = strategy.format(n=r["headline_n"])
    return next(row["accuracy"] for row in r["methods_on_split"]
                if row["model"] == model and row["strategy"] == strategy)


EFFECTS = {
    "voting_over_one_sample": Effect(
        "majority voting over N samples at least 5 points above one sample (the base)",
        lambda r: _scaling(r, "majority") - _scaling(r, "pass_at_n", 1), ">=", 0.05, "points"),
    "verifier_over_voting": Effect(
        "best-of-N with the step verifier no less accurate than majority voting (the base)",
        lambda r: _scaling(r, "best_of_n_verifier") - _scaling(r, "majority"), ">=", 0.0, "points"),
    "pure_rl_over_base": Effect(
        "pure RL (R1-Zero) above the base it started from (greedy)",
        lambda r: _greedy(r, "r1_zero") - _greedy(r, "base"), ">", 0.0, "points"),
    "distill_over_pure_rl": Effect(
        "the distilled student above the same student after pure RL",
        lambda r: r["distill_vs_rl"]["distill"]["accuracy"]
        - r["distill_vs_rl"]["student_rl"]["accuracy"], ">", 0.0, "points"),
    "method_gap_on_split": Effect(
        "on the harder split the trained methods at least 3 points apart (pass@1)",
        lambda r: r["method_gap"]["points"], ">=", 3.0, "number"),
    "o1_like_over_r1_alone": Effect(
        "R1 with best-of-N (o1-like) no less accurate than R1 alone on the harder split",
        lambda r: r["o1_vs_r1"]["o1_like"]["accuracy"] - r["o1_vs_r1"]["r1_alone"]["accuracy"],
        ">=", 0.0, "points"),
    "voting_over_r1_alone": Effect(
        "R1 with majority voting over N no less accurate than R1 alone on the harder split",
        lambda r: _on_split(r, "r1", "majority@{n}") - _on_split(r, "r1", "greedy"),
        ">=", 0.0, "points"),
}
