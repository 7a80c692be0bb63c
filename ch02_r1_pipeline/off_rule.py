"""When not to think, off the rule: does a stage choose to think on questions no label covers?

R1's SFT set writes the choice for it: one-operation questions and the seen facts are answered
directly, 2-6 operation problems are worked through. Scored on those same kinds (the `easy` and
`knowledge` splits), R1 repeats the rule it was taught. Here it meets two kinds of easy
question whose direct-or-think label no training example wrote:

- `bare_number`: "7?", an expression of zero operations (its answer is itself). No pretraining
  document, RL prompt or SFT example has one: the form itself is new.
- `unseen_fact`: the named constants the corpus never states ("kib?"). The SFT set labels the
  40 seen facts "direct"; these names it never labels, and no model can know their values.

For each kind we measure the choice (how often a model thinks when it may choose) and what
thinking would pay: accuracy when the model is forced to answer directly (after an empty think
block, the form R1's SFT set writes direct answers in) and when it is forced to think first.
A third kind, one operation with a two-digit operand ("5+12?"), was tried and left out: every
stage scores about 1% on it whichever way it answers, so it can show no choice paying.
Greedy decoding throughout, so the probe is deterministic.
"""

from __future__ import annotations

from ch01_what_is_reasoning.arithmetic import (
    END_THINK,
    MAX_VALUE,
    SCRIPTS,
    THINK,
    Problem,
    fact_prompt,
    make_facts,
)
from ch01_what_is_reasoning.evaluation import answer

OFF_RULE_STAGES = ("base", "r1_zero", "r1", "r1_zero_same_problems")
# name -> (text appended to the prompt, answer style): the direct answer follows an empty
# think block, as in R1's SFT set (arithmetic.direct_completion)
STYLES = {"chosen": ("", "free"), "direct": (THINK + END_THINK, "direct"),
          "think": ("", "step_by_step")}


def off_rule_questions() -> dict[str, tuple[list[str], list[int]]]:
    """{kind: (prompts, answers)}: every bare number 1..MAX_VALUE in both scripts (38), and
    the 40 facts the corpus never states."""
    bare = [Problem(v, (), script) for v in range(1, MAX_VALUE + 1) for script in SCRIPTS]
    _, unseen = make_facts()
    return {"bare_number": ([p.prompt() for p in bare], [p.answer for p in bare]),
            "unseen_fact": ([fact_prompt(name) for name in unseen], list(unseen.values()))}


def probe(model, tokenizer, questions: dict) -> dict:
    """{kind: {"thinking_rate", "tokens", "accuracy": {chosen, direct, think}, "thinking_pays"}}:
    `thinking_pays` = accuracy forced to think - accuracy forced to answer directly."""
    out = {}
    for kind, (prompts, answers) in questions.items():
        runs = {name: answer(model, tokenizer, [p + forced for p in prompts], answers, style)
                for name, (forced, style) in STYLES.items()}
        chosen = runs["chosen"]
        accuracy = {name: a.accuracy for name, a in runs.items()}
        out[kind] = {"thinking_rate": sum(bool(v.thinking) for v in chosen.verdicts) / len(prompts),
                     "tokens": chosen.mean_tokens, "accuracy": accuracy,
                     "thinking_pays": accuracy["think"] - accuracy["direct"],
                     "n_questions": len(prompts)}
    return out


def off_rule_table(off_rule: dict) -> str:
    """One row per stage and kind: how often it thinks, and what thinking would pay."""
    lines = [f"{'stage':<22}{'question':<13}{'thinks':>7}{'tokens':>8}"
             f"{'acc chosen':>11}{'direct':>8}{'think':>7}{'pays':>7}"]
    for stage, kinds in off_rule.items():
        for kind, m in kinds.items():
            a = m["accuracy"]
            lines.append(f"{stage:<22}{kind:<13}{m['thinking_rate']:>7.0%}{m['tokens']:>8.1f}"
                         f"{a['chosen']:>11.1%}{a['direct']:>8.1%}{a['think']:>7.1%}"
                         f"{100 * m['thinking_pays']:>+7.1f}")
    return "\n".join(lines)
