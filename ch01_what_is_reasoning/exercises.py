"""Chapter 1's checked exercises: the attention mask, top-p filtering, answer extraction and the
tokenizer's encode, each checked against the course's own code on fixed and random cases.

The framework they run on (`check`, `Verdict`, `ready`, `compare_prediction`, `direction`, the
detection of functions that change their inputs) is course/exercises.py, shared by every chapter.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

import torch

from course.exercises import (  # noqa: F401  (ready, compare_prediction: re-exported for the notebook)
    Verdict,
    check,
    compare_prediction,
    ready,
)

# ------------------------------------------------------------------ chapter 1's checkers
# The references are the course's own code, so an exercise checks the function the chapter runs.
# Each checker's cases start with the fixed edge cases a broken version trips over, then random
# ones from a fixed seed (the same cases every run, so a verdict is reproducible).

def _causal_mask_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    cases = [(1, 0), (2, 0), (5, 0), (3, 1), (1, 4), (4, 3), (8, 0), (6, 10), (17, 2)]
    # the edges of a context: a whole 128-token block at once, its last position alone, half
    # cached; and lengths past any fixed-size buffer (the mask has no upper limit of its own)
    cases += [(128, 0), (1, 127), (64, 64), (40, 300), (2, 1100)]
    cases += [(rng.randint(1, 12), rng.randint(0, 12)) for _ in range(5)]
    return cases


def check_causal_mask(causal_mask: Callable[[int, int], torch.Tensor]) -> Verdict:
    """Exercise 1.1: the causal mask, with `past` cached keys in front (the KV cache).

    `causal_mask(T, past)` returns a (T, past + T) bool tensor, True where query i (at position
    past + i) may attend to key j, i.e. j <= past + i."""
    from .model import causal_mask as reference
    return check("1.1", causal_mask, lambda T, past: reference(T, past), _causal_mask_cases(),
                 show_case=lambda case: f"T={case[0]}, past={case[1]}")


_LN2 = float(torch.tensor(math.log(2.0)))   # ln 2 in float32: softmax gives exact halves, quarters


def _top_p_cases(seed: int = 0) -> list:
    rng = torch.Generator().manual_seed(seed)
    inf, half = float("inf"), -_LN2
    cases = [
        (torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.5),      # the top token alone reaches 0.5
        (torch.tensor([[2.0, 1.0, 0.0, -1.0]]), 0.9),      # the token that crosses 0.9 is kept
        (torch.tensor([[1.0, 3.0, 2.0]]), 1.0),            # top_p = 1 keeps everything
        (torch.tensor([[5.0, -5.0, 0.0]]), 0.01),          # a tiny top_p keeps the best token
        (torch.tensor([[0.0, 4.0, 1.0], [3.0, 0.0, 2.9]]), 0.7),   # each row on its own
        # exact ties of the running total with top_p (probabilities 1/2, 1/4, 1/8 are exact in
        # float32): the mass before a token must be *less* than top_p, so the token whose
        # predecessors reach top_p exactly is dropped (only dropped tokens share a logit)
        (torch.tensor([[half, 0.0, half]]), 0.5),
        (torch.tensor([[2 * half, half, 0.0, 2 * half], [0.0, 2 * half, half, 2 * half]]), 0.75),
        # extreme logits, as after a low temperature (logits / 0.01): exp() overflows, and the
        # probabilities round to exactly 1 and 0
        (torch.tensor([[1000.0, 999.0, 998.0, -1000.0], [-3e4, 2e4, 1e4, 0.0]]), 0.9),
        (torch.randn(3, 30, generator=rng) * 300, 1.0),    # top_p = 1 keeps every token, still
        (torch.randn(2, 12, generator=rng) * 300, 0.3),
        # tokens already at -inf (a top-k filter before top-p)
        (torch.tensor([[-inf, 2.0, -inf, 1.0, 0.0], [0.5, -inf, -inf, -inf, -inf]]), 0.8),
        (torch.tensor([[-inf, 2.0, -inf, 1.0, 0.0]]), 1.0),
    ]
    for _ in range(13):  # random logits have no ties, so the kept set is unique
        rows = int(torch.randint(1, 5, (1,), generator=rng))
        vocab = int(torch.randint(2, 40, (1,), generator=rng))
        logits = torch.randn(rows, vocab, generator=rng) * 3
        cases.append((logits, round(float(torch.rand(1, generator=rng)) * 0.98 + 0.01, 3)))
    return cases


def check_top_p_filter(top_p_filter: Callable[[torch.Tensor, float], torch.Tensor]) -> Verdict:
    """Exercise 1.2: nucleus (top-p) filtering of a batch of logits (dropped tokens get -inf)."""
    from .sampling import filter_logits
    return check("1.2", top_p_filter, lambda logits, p: filter_logits(logits, top_p=p),
                 _top_p_cases())


def _answer_cases(seed: int = 0) -> list:
    rng = random.Random(seed)
    fixed = ["<think>3+4=7</think><answer>7</answer>", "<answer>12</answer>",
             "<think>a</think> <answer> 42 </answer>", "no tags at all", "<answer></answer>",
             "<think>x</think><answer>7", "<answer>1</answer><think>x</think><answer>2</answer>",
             "<think>x</think><answer>1</answer><answer>2</answer>", "<answer>3.5</answer>",
             "<answer>-5</answer>", "<think>wait</think>", "<answer>۱۲</answer>",
             "<answer>1۲</answer>", "<answer>1234567890123</answer>", "<think><answer>5</answer>",
             "<answer>5</answer></think><answer>6</answer>", "<answer>1 2</answer>",
             "<answer>000123456789</answer>",
             # rule 1, tags in unusual orders: the FIRST </think> after the first <think>
             "<think>a</think><answer>5</answer><think>b</think><answer>6</answer>",
             "<think>a</think><answer>5</answer></think><answer>6</answer>",
             "x</think><answer>1</answer><think>y</think><answer>2</answer>",
             "<think>a<think>b</think><answer>3</answer>c</think><answer>4</answer>",
             "<answer>3</answer><think><answer>5</answer>",     # <think> never closed: from 0
             # no answer after the thinking: None (no going back to one inside or before it)
             "<think><answer>5</answer></think>", "<answer>7</answer><think>x</think>",
             "<think>x</think></answer><answer>5</answer>",     # a </answer> before the <answer>
             # newlines and other whitespace inside and around the tags
             "<think>x</think>\n<answer>\n7\n</answer>\n",
             "<think>a\n<answer>1</answer>\nb</think><answer>7</answer>",
             "<think>x</think><answer>\t42\r\n</answer>", "<think>x</think><answer> 123456789012 </answer>",
             "<think>x</think><answer>\u3000۸\u3000</answer>",
             # only 0-9 and ۰-۹ are digits (int() and str.isdigit() take more)
             "<think>x</think><answer>٣</answer>", "<think>x</think><answer>１２</answer>",
             "<think>x</think><answer>1_000</answer>", "<think>x</think><answer>+5</answer>",
             "<think>x</think><answer>²</answer>", "<think>x</think><answer>۱۲۳۴۵۶۷۸۹۰۱۲</answer>",
             "<think>x</think><answer>0</answer>", "<think>x</think><answer>007</answer>",
             "<Think>x</Think><Answer>5</Answer>"]               # tags are matched exactly
    cases = [(text,) for text in fixed]
    for _ in range(8):
        think = "".join(rng.choice("0123456789+-*=() \n") for _ in range(rng.randint(0, 20)))
        value = rng.choice([str(rng.randint(0, 999)), str(rng.randint(-99, -1)), "", "1 2", " 7\n"])
        head = rng.choice(["", "<answer>9</answer>", " ", "</think>"])
        tail = rng.choice(["", " ", "</answer>", "<answer>", "x", "<think>1</think><answer>2</answer>"])
        cases.append((f"{head}<think>{think}</think><answer>{value}</answer>{tail}",))
    return cases


def check_extract_answer(extract_answer: Callable[[str], Any]) -> Verdict:
    """Exercise 1.3: the verifier's answer extraction (the number, or None)."""
    from .verifier import verify
    return check("1.3", extract_answer, lambda text: verify(text).answer, _answer_cases())


RAISES_VALUE_ERROR = "raises ValueError"


def _or_value_error(encode: Callable[[str], Any]) -> Callable[[str], Any]:
    """`encode`, with a ValueError turned into a value the checker can compare (any other
    exception, NotImplementedError included, still propagates)."""
    def wrapped(text):
        try:
            return encode(text)
        except ValueError:
            return RAISES_VALUE_ERROR
    return wrapped


def _encode_cases(seed: int = 0) -> list:
    from .arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
    from .tokenizer import CHARACTERS
    rng = random.Random(seed)
    fixed = ["", "3+4?", "(3+4)*2?<think>(3+4)*2 = 7*2 = 14</think><answer>14</answer>",
             "۱۴+۵ = ۱۹", "<think></think>", "<answer>5</answer>", "<think><think>",
             "a</answer>b", "wait, 7*2 = 14.", "3÷4?", "Abc", "x<y", "<thinking>", "</think",
             "3<eos>", "<bos>3", "<pad>", "7>", "tab\there",
             " 3+4? ",                                  # spaces are characters: keep them
             "3+4?\n", "\n", "3\r4",                    # other whitespace is not in the vocabulary
             "٣+۴", "１+2",                              # digits of other scripts: not either
             "</answer><answer></think><think>",        # tags in any order, each one token
             "<think><answer>1</answer></think>", "<think >", "<THINK>"]
    cases = [(text,) for text in fixed]
    pieces = list(CHARACTERS) * 3 + [THINK, END_THINK, ANSWER, END_ANSWER]
    for _ in range(20):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        if rng.random() < 0.2:   # now and then a character the vocabulary lacks
            i = rng.randint(0, len(text))
            text = text[:i] + rng.choice("<>ABZ÷!_\n\t") + text[i:]
        cases.append((text,))
    return cases


def check_encode(encode: Callable[[str], list]) -> Verdict:
    """Exercise 1.4: the character tokenizer's encode (no BOS/EOS); ValueError for a character
    the vocabulary lacks."""
    from .tokenizer import CharTokenizer
    tokenizer = CharTokenizer()
    return check("1.4", _or_value_error(encode), _or_value_error(tokenizer.encode),
                 _encode_cases())
