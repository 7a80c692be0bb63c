"""Chapter 2's claims as numbers: one `Effect` per assert in the notebook's 'Checks' cells, with
the same threshold (course/effects.py; benchmarks/seeds.py measures them over seeds)."""

from __future__ import annotations

from course.effects import Effect, ratio

from .chapter import aha_summary


def _stage(r, name):
    return r["stages"][name] if name in r["stages"] else r[name]


def _aha(key):
    return lambda r: aha_summary(r["aha"])[key]


EFFECTS = {
    "r1_zero_gain_over_base": Effect(
        "R1-Zero's greedy accuracy at least 30 points above the base's",
        lambda r: r["r1_zero"]["accuracy"] - r["base"]["accuracy"], ">=", 0.30, "points"),
    "r1_zero_length_growth": Effect(
        "R1-Zero's answers at least 1.5x longer at the end of RL than at the start",
        lambda r: ratio(r["curves"]["r1_zero"]["mean_response_tokens"][-1],
                         r["curves"]["r1_zero"]["mean_response_tokens"][0]), ">=", 1.5, "ratio"),
    "r1_zero_curve_gain": Effect(
        "R1-Zero's accuracy curve ends above where it started",
        lambda r: r["curves"]["r1_zero"]["accuracy"][-1] - r["curves"]["r1_zero"]["accuracy"][0],
        ">", 0.0, "points"),
    "r1_zero_format_rate": Effect(
        "R1-Zero well-formed on at least 95% of answers",
        lambda r: r["r1_zero"]["format_rate"], ">=", 0.95),
    "r1_zero_mixing_t1": Effect(
        "R1-Zero mixes scripts in at least 5% of T=1 samples",
        lambda r: r["r1_zero"]["sampled_mixing_rate"], ">=", 0.05),
    "consistency_mixing_ratio": Effect(
        "the consistency reward cuts T=1 mixing at least tenfold (ratio at most 0.1)",
        lambda r: ratio(_stage(r, "r1_zero_consistency")["sampled_mixing_rate"],
                         r["r1_zero"]["sampled_mixing_rate"]), "<=", 0.1, "ratio"),
    "consistency_greedy_mixing": Effect(
        "with the consistency reward, greedy mixing at most 1%",
        lambda r: _stage(r, "r1_zero_consistency")["mixing_rate"], "<=", 0.01),
    "r1_minus_r1_zero_in_distribution_pass1": Effect(
        "R1's in-distribution pass@1 no lower than R1-Zero's",
        lambda r: r["r1"]["pass1"]["in_distribution"] - r["r1_zero"]["pass1"]["in_distribution"],
        ">=", 0.0, "points"),
    "r1_minus_r1_zero_greedy": Effect(
        "R1's greedy accuracy within 1 point of R1-Zero's, or above",
        lambda r: r["r1"]["accuracy"] - r["r1_zero"]["accuracy"], ">=", -0.01, "points"),
    "r1_minus_r1_zero_t1_accuracy": Effect(
        "R1's T=1 samples at least 3 points more accurate than R1-Zero's",
        lambda r: r["r1"]["sampled_accuracy"] - r["r1_zero"]["sampled_accuracy"], ">=", 0.03, "points"),
    "r1_easy_token_ratio": Effect(
        "R1 spends at most half R1-Zero's tokens on one-operation questions",
        lambda r: ratio(r["r1"]["tokens"]["easy"], r["r1_zero"]["tokens"]["easy"]), "<=", 0.5, "ratio"),
    "r1_minus_r1_zero_easy_pass1": Effect(
        "R1's pass@1 on one-operation questions no lower than R1-Zero's",
        lambda r: r["r1"]["pass1"]["easy"] - r["r1_zero"]["pass1"]["easy"], ">=", 0.0, "points"),
    "r1_facts_pass1": Effect(
        "R1 answers at least 90% of the facts",
        lambda r: r["r1"]["pass1"]["knowledge"], ">=", 0.90),
    "r1_mixing": Effect(
        "R1 mixes scripts in at most 1% of answers, greedy and T=1",
        lambda r: max(r["r1"]["mixing_rate"], r["r1"]["sampled_mixing_rate"]), "<=", 0.01),
    "r1_minus_r1_zero_harder_pass1": Effect(
        "R1 at least 3 points above R1-Zero on the harder split (pass@1)",
        lambda r: r["r1"]["pass1"]["harder"] - r["r1_zero"]["pass1"]["harder"], ">=", 0.03, "points"),
    "distill_minus_student_rl": Effect(
        "the distilled student at least 10 points above the same student after pure RL",
        lambda r: r["distill"]["accuracy"] - r["student_rl"]["accuracy"], ">=", 0.10, "points"),
    "r1_off_rule_thinking": Effect(
        "off the rule (bare numbers, unseen facts): R1 thinks on at most 5% of either kind",
        lambda r: max(m["thinking_rate"] for m in r["off_rule"]["r1"].values()), "<=", 0.05),
    "r1_zero_off_rule_thinking": Effect(
        "off the rule: R1-Zero thinks on at least 80% of either kind",
        lambda r: min(m["thinking_rate"] for m in r["off_rule"]["r1_zero"].values()), ">=", 0.80),
    "r1_zero_bare_number_thinking_cost": Effect(
        "on bare numbers, thinking costs R1-Zero at least 10 points against answering directly",
        lambda r: r["off_rule"]["r1_zero"]["bare_number"]["thinking_pays"], "<=", -0.10, "points"),
    "aha_productive_rise": Effect(
        "aha: productive fixes over the last 10 steps at least 3x the first 10 steps' "
        "(value: last - 3 x first)",
        lambda r: aha_summary(r["aha"])["productive_correction_rate_last"]
        - 3 * aha_summary(r["aha"])["productive_correction_rate_first"], ">=", 0.0, "points"),
    "aha_productive_last": Effect(
        "aha: at least 2% of the last 10 steps' samples fix their slip",
        _aha("productive_correction_rate_last"), ">=", 0.02),
    "aha_length_rising_points": Effect(
        "aha: answer length rises over at least 4 curve points in a row",
        _aha("length_rising_points"), ">=", 4, "number"),
    "aha_length_gain": Effect(
        "aha: answers longer over the last 10 steps than the first 10 (tokens)",
        lambda r: aha_summary(r["aha"])["mean_response_tokens_last"]
        - aha_summary(r["aha"])["mean_response_tokens_first"], ">", 0.0, "number"),
    "aha_accuracy_gain": Effect(
        "aha: accuracy higher over the last 10 steps than the first 10",
        lambda r: aha_summary(r["aha"])["accuracy_last"] - aha_summary(r["aha"])["accuracy_first"],
        ">", 0.0, "points"),
}
