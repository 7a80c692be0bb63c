"""Type a completion, see each rule reward: what the RL loop would pay for it."""

from __future__ import annotations

from ch01_what_is_reasoning.explorer import expected_answer

from .grpo import score
from .rewards import ACCURACY_FORMAT, WITH_CONSISTENCY, is_mixed


def inspect_rewards(prompt: str, completion: str, answer: int | None = None) -> dict:
    """Every reward for one completion, and the totals R1-Zero and R1 would use."""
    answer = expected_answer(prompt) if answer is None else answer
    r1_zero, parts = score([completion], [prompt], [answer], ACCURACY_FORMAT)
    r1, _ = score([completion], [prompt], [answer], WITH_CONSISTENCY)
    return {"expected": answer, **{name: values[0] for name, values in sorted(parts.items())},
            "mixed_scripts": is_mixed(completion), "R1-Zero total": r1_zero[0], "R1 total": r1[0]}


def reward_inspector():
    """An ipywidgets panel around `inspect_rewards`."""
    import ipywidgets as w

    prompt = w.Text(value="(۳+۴)*۲?", description="prompt")
    completion = w.Textarea(value="<think>(۳+۴)*۲ = 7*2 = ۱۴</think><answer>۱۴</answer>",
                            description="completion", layout=w.Layout(width="600px"))
    output = w.Output()

    def show(_=None):
        output.clear_output()
        with output:
            for name, value in inspect_rewards(prompt.value, completion.value).items():
                print(f"{name:>15}: {value:.3f}" if isinstance(value, float)
                      else f"{name:>15}: {value}")

    prompt.observe(show, "value")
    completion.observe(show, "value")
    show()
    return w.VBox([prompt, completion, output])
