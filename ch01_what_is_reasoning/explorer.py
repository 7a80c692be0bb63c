"""Try it: type a problem, pick a style and a temperature, see the trace and the verdict."""

from __future__ import annotations

import torch

from .arithmetic import make_facts, solve
from .evaluation import answer
from .tokenizer import UnknownCharacterError


def expected_answer(question: str, facts: dict | None = None) -> int | None:
    """The right answer to a typed question: an arithmetic expression or a known fact name."""
    name = question.strip().removesuffix("?")
    facts = facts if facts is not None else {**make_facts()[0], **make_facts()[1]}
    if name in facts:
        return facts[name]
    return solve(question)


def explain(model, tokenizer, question: str, style: str = "free", temperature: float = 0.0,
            seed: int = 0) -> str:
    """One answer from the model, with the verifier's verdict, as text."""
    question = question.strip()
    if not question.endswith("?"):
        question += "?"
    expected = expected_answer(question)
    try:
        out = answer(model, tokenizer, [question], [expected], style, temperature=temperature,
                     generator=torch.Generator().manual_seed(seed))
    except (UnknownCharacterError, ValueError) as err:
        return f"cannot ask that: {err}"
    v = out.verdicts[0]
    verdict = ("no expected answer known (not an expression or a known fact)" if expected is None
               else f"expected {expected}: " + ("correct" if v.correct else "wrong"))
    return (f"prompt:     {question}\ncompletion: {out.completions[0]}\n"
            f"tokens:     {out.tokens[0]}\nwell-formed: {v.well_formed}, answer: {v.answer}\n"
            f"verdict:    {verdict}")


def explorer(model, tokenizer):
    """An ipywidgets panel around `explain`."""
    import ipywidgets as w

    question = w.Text(value="(9-2)*2+3+1-7?", description="problem")
    style = w.Dropdown(options=["free", "direct", "step_by_step"], value="step_by_step",
                       description="style")
    temperature = w.FloatSlider(value=0.0, min=0.0, max=1.5, step=0.1, description="temperature")
    seed = w.IntText(value=0, description="seed")
    button = w.Button(description="ask", button_style="primary")
    output = w.Output()

    def on_click(_):
        output.clear_output()
        with output:
            print(explain(model, tokenizer, question.value, style.value, temperature.value,
                          seed.value))

    button.on_click(on_click)
    return w.VBox([w.HBox([question, style]), w.HBox([temperature, seed, button]), output])
