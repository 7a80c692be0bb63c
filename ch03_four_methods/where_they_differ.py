"""The four methods where they differ: scored on chapter 2's harder split.

On chapter 2's test set (3-5 operations, the lengths RL trained on) every trained big model
sits near 100%, so the table there tells the methods apart by their cost alone. On the `harder`
split (6 operations, held-out problems) they come apart. It is not a split no stage trained on:
R1's SFT set holds 6-operation training problems, R1-Zero's RL prompts do not, which is why the
table adds R1-Zero trained on R1's problem lengths (chapter 2's fair control). On the `unseen`
split (7 operations, which no stage saw) every trained model falls below 10% (chapter 2), so it
cannot rank them. The same harness scores the methods on the harder problems; the rows of
plain models also carry chapter 2's pass@1 on them (4 samples at T=0.6, the R1 paper's protocol).

R1 with best-of-N is the o1-like recipe the post guesses at: SFT + RL *and* inference-time
scaling. `o1_like` sets it against R1 alone and the base with best-of-N, each charged what it
cost to train and what one answer costs.
"""

from __future__ import annotations

from ch02_r1_pipeline.splits import split_problems

from .harness import Entry, Harness, harness_for

SPLIT = "harder"
TRAINED = ("r1_zero", "r1", "distill")    # pure RL, SFT + RL, pure SFT: the trained methods
O1_LIKE = "SFT + RL + inference-time scaling"


def split_entries(n: int) -> list[Entry]:
    """The rows on the split: the four methods, R1 with voting and best-of-N, the plain models
    they start from, and the fair control (R1-Zero on R1's problem lengths)."""
    return [
        Entry("none", "base", "greedy"),
        Entry("inference-time scaling", "base", f"majority@{n}"),
        Entry("inference-time scaling", "base", f"best_of_n_verifier@{n}"),
        Entry("pure RL", "r1_zero", "greedy"),
        Entry("pure RL", "r1_zero_same_problems", "greedy"),
        Entry("SFT + RL", "r1", "greedy"),
        Entry(O1_LIKE, "r1", f"majority@{n}"),
        Entry(O1_LIKE, "r1", f"best_of_n_verifier@{n}"),
        Entry("none", "student_base", "greedy"),
        Entry("pure RL", "student_rl", "greedy"),
        Entry("pure SFT / distillation", "distill", "greedy"),
    ]


def split_harness(pipeline, s, costs: dict, progress: bool = True, split: str = SPLIT) -> Harness:
    """Every chapter 2 model on the problems of one of chapter 2's splits, each charged its
    training FLOPs."""
    return harness_for(pipeline, s, costs, split_problems(pipeline.test)[split], progress)


def split_rows(harness: Harness, pipeline, n: int, split: str = SPLIT) -> list[dict]:
    """The table on the split; each row names its split and its number of problems, and a plain
    model's row adds its pass@1 there from chapter 2 (the same problems)."""
    rows = harness.table(split_entries(n))
    for r in rows:
        r["split"], r["problems"] = split, len(harness.problems)
        if r["strategy"] == "greedy":
            r["pass1"] = pipeline.run(r["model"])["eval"]["splits"]["pass1"][split]
    return rows


def method_gap(rows: list[dict]) -> dict:
    """pass@1 of the trained methods (R1-Zero, R1, the distilled student) on the split, the best
    and the worst, and the gap between them in points."""
    pass1 = {r["model"]: r["pass1"] for r in rows if r["model"] in TRAINED and "pass1" in r}
    best, worst = max(pass1, key=pass1.get), min(pass1, key=pass1.get)
    return {"pass1": pass1, "best": best, "worst": worst,
            "points": 100 * (pass1[best] - pass1[worst])}


def o1_like(rows: list[dict], n: int) -> dict:
    """R1 with best-of-N (o1-like), R1 alone and the base with best-of-N on the split: each one's
    accuracy, training FLOPs and inference FLOPs per problem."""
    by = {(r["model"], r["strategy"]): r for r in rows}
    pick = {"o1_like": ("r1", f"best_of_n_verifier@{n}"), "r1_alone": ("r1", "greedy"),
            "base_best_of_n": ("base", f"best_of_n_verifier@{n}")}
    return {name: {k: by[key][k] for k in ("accuracy", "train_flops", "inference_flops_per_problem")}
            for name, key in pick.items()}
