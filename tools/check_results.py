"""Check the four chapters' results.json in a runs folder: the keys users read, and the
headline effect of each chapter (the notebooks assert more). Usage: check_results.py RUNS_DIR"""

import json
import sys
from pathlib import Path


def check(runs: Path) -> list[str]:
    r = {ch: json.loads((runs / ch / "results.json").read_text()) for ch in ("ch01", "ch02", "ch03", "ch04")}
    failures = []

    def expect(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    by_ops = r["ch01"]["accuracy_by_operations"]
    hard = str(r["ch01"]["hardest_level"])
    expect(by_ops["step_by_step"][hard] - by_ops["direct"][hard] >= 0.30,
           f"ch01: step by step beats direct by 30 points at {hard} ops "
           f"({by_ops['step_by_step'][hard]:.1%} vs {by_ops['direct'][hard]:.1%})")
    base, zero = r["ch02"]["base"], r["ch02"]["r1_zero"]
    expect(zero["accuracy"] >= base["accuracy"] + 0.30,
           f"ch02: R1-Zero +30 points over the base ({base['accuracy']:.1%} -> {zero['accuracy']:.1%})")
    dist, srl = r["ch02"]["distill"], r["ch02"]["student_rl"]
    expect(dist["accuracy"] >= srl["accuracy"] + 0.10,
           f"ch02: distilled student beats student RL by 10 points "
           f"({dist['accuracy']:.1%} vs {srl['accuracy']:.1%})")
    expect(len(r["ch03"]["four_methods"]) == 4, "ch03: four methods in the table")
    sweep = r["ch04"]["rl_size_sweep"]
    expect(sweep[-1]["accuracy_after"] >= sweep[-1]["accuracy_before"] + 0.30,
           "ch04: pure RL lifts the largest model by 30 points")
    for ch, res in r.items():
        print(f"{ch}: preset {res['preset']} on {res['device']}, {res['seconds']:.0f} s")
    return failures


if __name__ == "__main__":
    sys.exit(1 if check(Path(sys.argv[1])) else 0)
