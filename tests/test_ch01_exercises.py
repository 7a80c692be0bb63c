"""Chapter 1's exercises: the checker framework, each checker (it accepts the course's own
function, rejects realistic broken versions, and says "not done yet" for the stub), the
experiment runners at tiny sizes, and the two notebooks' structure."""

from __future__ import annotations

import inspect
import json
import re
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from helpers import make_model

from ch01_what_is_reasoning import exercise_runs
from ch01_what_is_reasoning.arithmetic import sample_problems
from ch01_what_is_reasoning.evaluation import answer_problems
from ch01_what_is_reasoning.exercises import (
    check_causal_mask,
    check_encode,
    check_extract_answer,
    check_top_p_filter,
)
from ch01_what_is_reasoning.model import causal_mask
from ch01_what_is_reasoning.sampling import filter_logits
from ch01_what_is_reasoning.tokenizer import CharTokenizer
from ch01_what_is_reasoning.verifier import parse_number, verify
from course.exercises import (
    FAILED,
    NOT_DONE,
    PASSED,
    Verdict,
    check,
    compare_prediction,
    direction,
    ready,
    same,
)
from course.runtime import get_preset

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("higher", "lower", "about the same")


def stub(*args):
    raise NotImplementedError


# ------------------------------------------------------------------ the framework

def test_verdict_prints_its_mark_exercise_and_status():
    assert str(Verdict("1.1", PASSED, 3, "ok")) == "✓ Exercise 1.1: passed. ok"
    assert str(Verdict("1.1", FAILED, 3, "bad")).startswith("✗ Exercise 1.1: failed. bad")
    assert str(Verdict("1.1", NOT_DONE, 0, "todo")).startswith("… Exercise 1.1: not done yet.")
    assert repr(Verdict("2.3", PASSED, 1, "x")) == str(Verdict("2.3", PASSED, 1, "x"))
    assert Verdict("1.1", PASSED, 3, "").passed and not Verdict("1.1", FAILED, 3, "").passed


def test_check_passes_prints_and_counts_cases(capsys):
    v = check("9.1", lambda x: x * 2, lambda x: x + x, [(1,), (2,), (3,)])
    assert v.passed and v.cases == 3 and "All 3 cases" in v.message
    assert "✓ Exercise 9.1: passed" in capsys.readouterr().out


def test_check_reports_the_first_failing_case_with_expected_and_got(capsys):
    v = check("9.2", lambda x: 0 if x == 2 else x, lambda x: x, [(1,), (2,), (3,)])
    assert v.status == FAILED and v.cases == 2
    assert "Case 2 differs" in v.message and "expected: 2" in v.message and "got:      0" in v.message
    assert "✗ Exercise 9.2" in capsys.readouterr().out


def test_check_reports_a_students_exception_as_the_failing_case():
    v = check("9.3", lambda x: 1 / x, lambda x: 1.0, [(1,), (0,)], quiet=True)
    assert v.status == FAILED and "Case 2 raised ZeroDivisionError" in v.message
    assert "expected: 1" in v.message


def test_check_says_not_done_yet_for_a_stub_and_quiet_prints_nothing(capsys):
    v = check("9.4", stub, lambda x: x, [(1,)], quiet=True)
    assert v.status == NOT_DONE and not v.passed and "NotImplementedError" in v.message
    assert capsys.readouterr().out == ""


def test_check_gives_each_call_its_own_copy_and_fails_a_function_that_changes_its_input():
    def in_place(x):
        return x.add_(1)
    case = torch.zeros(3)
    v = check("9.5", in_place, lambda x: x + 1, [(case,), (case,)], quiet=True)
    assert v.status == FAILED and v.cases == 1 and torch.equal(case, torch.zeros(3))
    assert "changed its input `x` (argument 1) in place" in v.message
    assert "before the call" in v.message and "after the call" in v.message
    # the reference may do as it likes with its own copy; the student's copy is a fresh one
    v = check("9.5", lambda x: x + 1, in_place, [(case,), (case,)], quiet=True)
    assert v.passed and torch.equal(case, torch.zeros(3))


def _sorts(answers, scores):
    answers.sort()
    return len(answers)


def _adds_a_key(record):
    record["total"] = sum(record.values())
    return record["total"]


def _changes_a_nested_list(rows):
    rows[1].append(0)
    return len(rows)


def _reshapes_in_place(x):
    x.unsqueeze_(0)
    return x.sum()


def _fills_a_nan(x):
    x[x.isnan()] = 0.0
    return x.sum()


@pytest.mark.parametrize("changes, case", [
    (_sorts, ([3, 1, 2], [0.5, 0.2, 0.1])),
    (_adds_a_key, ({"a": 1, "b": 2},)),
    (_changes_a_nested_list, ([[1], [2, 3]],)),
    (_reshapes_in_place, (torch.ones(2, 3),)),                   # same values, another shape
    (_fills_a_nan, (torch.tensor([1.0, float("nan")]),)),
], ids=["sorts a list", "adds a key to a dict", "appends to a nested list",
        "reshapes a tensor in place", "fills a NaN in place"])
def test_check_fails_any_change_to_an_input_and_names_the_argument(changes, case):
    original = repr(case)
    v = check("9.5", changes, changes, [case], quiet=True)   # the reference changes only its copy
    assert v.status == FAILED and "changed its input" in v.message, v
    assert f"`{next(iter(inspect.signature(changes).parameters))}` (argument 1)" in v.message
    assert repr(case) == original                       # the checker's own case is untouched


def test_check_accepts_a_function_that_leaves_its_inputs_alone_nan_and_models_included():
    model = torch.nn.Linear(2, 1)

    def reads(x, rows, record, net):
        return float(torch.nan_to_num(x).sum()) + len(rows) + len(record) + float(net.weight.detach().sum())
    case = (torch.tensor([1.0, float("nan")]), [[1], [2]], {"a": 1}, model)
    assert check("9.5", reads, reads, [case], quiet=True).passed


def test_check_fails_a_function_that_changes_a_model_it_is_given():
    def trains(net):
        with torch.no_grad():
            net.weight.add_(1.0)
        return 0

    def switches_mode(net):
        net.train()
        return 0
    for fn in (trains, switches_mode):
        v = check("9.5", fn, lambda net: 0, [(torch.nn.Linear(2, 1).eval(),)], quiet=True)
        assert v.status == FAILED and "changed its input `net`" in v.message, fn.__name__


def test_check_restores_the_thread_count_even_when_the_function_raises():
    before = torch.get_num_threads()
    check("9.5", lambda x: 1 / x, lambda x: 1.0, [(0,)], quiet=True)
    check("9.5", stub, lambda x: 1.0, [(0,)], quiet=True)
    assert torch.get_num_threads() == before


def test_a_failing_case_shows_numbers_to_eight_digits_and_names_the_part_that_differs():
    def parts(x):
        return {"loss (value)": torch.tensor(0.12345678), "gradient": torch.tensor([1.0, 2.0])}

    def wrong_gradient(x):
        return {"loss (value)": torch.tensor(0.12345678), "gradient": torch.tensor([1.0, 2.00002])}
    v = check("9.7", wrong_gradient, parts, [(0,)], quiet=True,
              compare=lambda e, g: all(same(e[k], g[k], tol=1e-6) for k in e))
    assert "differs from the reference in: gradient." in v.message, v.message
    assert "[loss (value)]" in v.message and "0.12345678" in v.message
    assert "2.00002" in v.message               # 4 decimals would print 2.0000 twice
    v = check("9.7", lambda x: 0.123456789, lambda x: 0.1234568, [(0,)], quiet=True,
              compare=lambda e, g: e == g)
    assert "expected: 0.1234568" in v.message and "got:      0.12345679" in v.message


def test_check_uses_the_given_compare_and_show_case():
    v = check("9.6", lambda s: s.upper(), lambda s: s.lower(), [("Ab",)], quiet=True,
              compare=lambda e, g: e.lower() == g.lower(), show_case=lambda c: "shown")
    assert v.passed
    v = check("9.6", lambda s: "x", lambda s: s, [("Ab",)], quiet=True, show_case=lambda c: "SHOWN")
    assert "input:    SHOWN" in v.message


def test_same_compares_tensors_floats_and_containers_strictly():
    assert same(torch.tensor([1.0, float("-inf")]), torch.tensor([1.0 + 1e-7, float("-inf")]))
    assert not same(torch.tensor([1.0, 2.0]), torch.tensor([[1.0, 2.0]]))           # shape
    assert not same(torch.tensor([True]), torch.tensor([1.0]))                        # dtype
    assert not same(torch.tensor([1, 2]), torch.tensor([1, 2], dtype=torch.int32))
    assert not same(torch.tensor([1.0]), [1.0])
    assert same(0.5, 0.5 + 1e-9) and same(2.0, 2) and not same(1.0, True)
    assert same(float("nan"), float("nan")) and not same(float("nan"), 1.0)
    assert same([1, (2.0, "a")], (1, [2.0, "a"])) and not same([1, 2], [1])
    assert not same(1, 1.0) and not same(None, 0) and same(None, None)


def test_ready_lists_what_is_missing_and_returns_false(capsys):
    assert not ready("1.5", PREDICTION=None, TEMPERATURE=1.0)
    out = capsys.readouterr().out
    assert "Exercise 1.5: not done yet" in out and "PREDICTION" in out and "TEMPERATURE" not in out
    assert not ready("1.7", A=None, B=None)
    assert "Set A, B" in capsys.readouterr().out
    assert ready("1.5", PREDICTION="lower", TEMPERATURE=0.0)   # 0 is an answer, not a blank
    assert capsys.readouterr().out == ""


def test_compare_prediction_ignores_case_and_spaces():
    line = compare_prediction("1.5", " Lower ", "lower")
    assert "as you predicted" in line and "not what" not in line and "'lower'" in line
    assert "not what you predicted" in compare_prediction("1.5", "higher", "about the same")


def test_direction_needs_more_than_the_tolerance():
    assert direction(0.5, 0.6, 0.05) == "higher"
    assert direction(0.5, 0.4, 0.05) == "lower"
    assert direction(0.5, 0.54, 0.05) == "about the same"
    assert direction(0.5, 0.5, 0.0) == "about the same"
    assert direction(0.5, 0.5 - 1e-9, 0.0) == "lower"


# ------------------------------------------------------------------ 1.1 the causal mask

def mask_ignores_past(T, past):
    return torch.ones(T, past + T, dtype=torch.bool).tril()


def mask_square(T, past):
    return torch.ones(T, T, dtype=torch.bool).tril()


def mask_without_diagonal(T, past):
    return torch.ones(T, past + T, dtype=torch.bool).tril(past - 1)


def mask_one_too_far(T, past):
    return torch.ones(T, past + T, dtype=torch.bool).tril(past + 1)


def mask_float(T, past):
    return torch.ones(T, past + T).tril(past)


def mask_upper(T, past):
    return torch.ones(T, past + T, dtype=torch.bool).triu(past)


def test_causal_mask_checker_accepts_the_course_function():
    assert check_causal_mask(lambda T, past: causal_mask(T, past)).passed


@pytest.mark.parametrize("broken", [mask_ignores_past, mask_square, mask_without_diagonal,
                                    mask_one_too_far, mask_float, mask_upper])
def test_causal_mask_checker_rejects(broken):
    assert check_causal_mask(broken).status == FAILED


# Wrong only at the edges of a context (a whole 128-token block, its last position, lengths past
# a fixed buffer): the first cases never reached them.
_BUFFER_64 = torch.ones(64, 64, dtype=torch.bool).tril()
_BUFFER_128 = torch.ones(128, 128, dtype=torch.bool).tril()


def mask_from_a_64_token_buffer(T, past):        # a precomputed mask, sliced
    return _BUFFER_64[past:past + T, :past + T]


def mask_from_a_block_size_buffer(T, past):      # the model's 128 positions, and no more
    return _BUFFER_128[past:past + T, :past + T]


def mask_positions_in_bfloat16(T, past):         # bfloat16 counts exactly only up to 256
    query = torch.arange(past, past + T, dtype=torch.bfloat16)[:, None]
    key = torch.arange(past + T, dtype=torch.bfloat16)[None, :]
    return key <= query


def mask_capped_at_the_block_size(T, past):      # "a query sees at most 128 keys"
    mask = torch.ones(T, past + T, dtype=torch.bool).tril(past)
    return mask & torch.ones_like(mask).triu(past - 127)


MASK_EDGES = [mask_from_a_64_token_buffer, mask_from_a_block_size_buffer,
              mask_positions_in_bfloat16, mask_capped_at_the_block_size]


@pytest.mark.parametrize("broken", MASK_EDGES)
def test_causal_mask_checker_rejects_masks_wrong_at_the_edges_of_a_context(broken):
    assert check_causal_mask(broken).status == FAILED


def test_causal_mask_checker_says_not_done_for_the_stub():
    assert check_causal_mask(stub).status == NOT_DONE


# ------------------------------------------------------------------ 1.2 top-p

def _top_p(logits, top_p, drop_rule, ascending=False, unsort=True, fill=float("-inf"), dim=-1,
           shortcut=True):
    if top_p >= 1 and shortcut:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=not ascending)
    probs = torch.softmax(sorted_logits, dim=dim)
    cumulative = probs.cumsum(-1)
    sorted_logits = sorted_logits.masked_fill(drop_rule(cumulative, probs, top_p), fill)
    if not unsort:
        return sorted_logits
    return torch.full_like(logits, fill).scatter(-1, order, sorted_logits)


def top_p_drops_the_crossing_token(logits, top_p):
    return _top_p(logits, top_p, lambda c, p, t: c > t)


def top_p_in_sorted_order(logits, top_p):
    return _top_p(logits, top_p, lambda c, p, t: c - p >= t, unsort=False)


def top_p_zero_instead_of_minus_inf(logits, top_p):
    return _top_p(logits, top_p, lambda c, p, t: c - p >= t, fill=0.0)


def top_p_ascending(logits, top_p):
    return _top_p(logits, top_p, lambda c, p, t: c - p >= t, ascending=True)


def top_p_softmax_over_the_batch(logits, top_p):
    return _top_p(logits, top_p, lambda c, p, t: c - p >= t, dim=0)


def top_p_in_vocabulary_order(logits, top_p):   # forgot to sort at all
    if top_p >= 1:
        return logits.clone()
    probs = torch.softmax(logits, -1)
    return logits.masked_fill(probs.cumsum(-1) - probs >= top_p, float("-inf"))


def test_top_p_checker_accepts_the_course_function():
    assert check_top_p_filter(lambda logits, p: filter_logits(logits, top_p=p)).passed


@pytest.mark.parametrize("broken", [top_p_drops_the_crossing_token, top_p_in_sorted_order,
                                    top_p_zero_instead_of_minus_inf, top_p_ascending,
                                    top_p_softmax_over_the_batch, top_p_in_vocabulary_order])
def test_top_p_checker_rejects(broken):
    assert check_top_p_filter(broken).status == FAILED


def top_p_softmax_by_hand(logits, top_p):       # exp() before subtracting the max: overflows
    if top_p >= 1:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    weights = sorted_logits.exp()
    probs = weights / weights.sum(-1, keepdim=True)
    sorted_logits = sorted_logits.masked_fill(probs.cumsum(-1) - probs >= top_p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def top_p_keeps_an_exact_tie(logits, top_p):    # <=: the mass before it *reaching* top_p keeps it
    return _top_p(logits, top_p, lambda c, p, t: c - p > t)


def top_p_without_the_top_p_1_rule(logits, top_p):   # rounding to 1.0 drops tokens at top_p = 1
    return _top_p(logits, top_p, lambda c, p, t: c - p >= t, shortcut=False)


def top_p_in_place(logits, top_p):              # writes the -infs into the caller's logits
    keep = _top_p(logits, top_p, lambda c, p, t: c - p >= t) > float("-inf")
    return logits.masked_fill_(~keep, float("-inf"))


TOP_P_EDGES = [top_p_softmax_by_hand, top_p_keeps_an_exact_tie, top_p_without_the_top_p_1_rule,
               top_p_in_place]


@pytest.mark.parametrize("broken", TOP_P_EDGES)
def test_top_p_checker_rejects_filters_wrong_on_ties_extreme_logits_or_their_input(broken):
    assert check_top_p_filter(broken).status == FAILED


def test_top_p_ties_are_exact_in_float32():
    """The tie cases rely on softmax giving exact halves and quarters (ln 2 in float32)."""
    from ch01_what_is_reasoning.exercises import _top_p_cases
    for logits, top_p in _top_p_cases()[5:7]:
        probs = torch.softmax(logits, -1)
        assert set(probs.flatten().tolist()) <= {0.5, 0.25, 0.125}
        kept = filter_logits(logits, top_p=top_p) > float("-inf")
        assert torch.equal(probs.where(kept, torch.zeros(())).sum(-1), torch.full((len(probs),), top_p))


def test_top_p_checker_says_not_done_for_the_stub():
    assert check_top_p_filter(stub).status == NOT_DONE


# ------------------------------------------------------------------ 1.3 answer extraction

def _answer(text, think=True, last=False, parse=lambda s: parse_number(s)[0],
            think_close_anywhere=False):
    start = 0
    if think:
        i = text.find("<think>")
        j = text.find("</think>") if think_close_anywhere else (
            text.find("</think>", i + 7) if i >= 0 else -1)
        if (i >= 0 or think_close_anywhere) and j >= 0:
            start = j + len("</think>")
    i = text.rfind("<answer>", start) if last else text.find("<answer>", start)
    if i < 0:
        return None
    j = text.find("</answer>", i + 8)
    return None if j < 0 else parse(text[i + 8:j])


def answer_ignores_think(text):
    return _answer(text, think=False)


def answer_takes_the_last_block(text):
    return _answer(text, last=True)


def _int_or_none(s):
    try:
        return int(s)
    except ValueError:
        return None


def answer_with_int(text):   # int() takes "-5", " 42 " and 13 digits
    return _answer(text, parse=_int_or_none)


def answer_without_strip(text):
    return _answer(text, parse=lambda s: int(s) if s.isdigit() and len(s) <= 12 else None)


def answer_closing_think_anywhere(text):
    return _answer(text, think_close_anywhere=True)


def answer_as_string(text):
    value = _answer(text)
    return None if value is None else str(value)


def test_answer_checker_accepts_the_course_function():
    assert check_extract_answer(lambda text: verify(text).answer).passed


@pytest.mark.parametrize("broken", [answer_ignores_think, answer_takes_the_last_block,
                                    answer_with_int, answer_without_strip,
                                    answer_closing_think_anywhere, answer_as_string])
def test_answer_checker_rejects(broken):
    assert check_extract_answer(broken).status == FAILED


# Rule by rule, versions the first 48 texts all let through (the sweep's 7 extraction bugs passed).
THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"
PERSIAN_TO_LATIN = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


def answer_after_the_last_think(text):             # rfind: the last </think>, not the first
    i = text.rfind(THINK_CLOSE)
    return _answer(text[i + len(THINK_CLOSE):] if THINK_OPEN in text and i >= 0 else text, think=False)


def answer_after_any_close_if_opened(text):        # the first </think> anywhere, once <think> exists
    if THINK_OPEN in text and THINK_CLOSE in text:
        text = text.split(THINK_CLOSE, 1)[1]
    return _answer(text, think=False)


def answer_after_an_unclosed_think(text):          # an open <think> also moves the start
    i = text.find(THINK_OPEN)
    if i >= 0 and text.find(THINK_CLOSE, i) < 0:
        return _answer(text[i + len(THINK_OPEN):], think=False)
    return _answer(text)


def answer_falls_back_to_the_start(text):          # no <answer> after the thinking: take one before
    i = text.find(THINK_OPEN)
    j = text.find(THINK_CLOSE, i + len(THINK_OPEN)) if i >= 0 else -1
    start = j + len(THINK_CLOSE) if i >= 0 and j >= 0 else 0
    return _answer(text[start:] if ANSWER_OPEN in text[start:] else text, think=False)


def answer_close_searched_from_the_start(text):    # the </answer> found before the <answer>
    i = text.find(THINK_OPEN)
    j = text.find(THINK_CLOSE, i + len(THINK_OPEN)) if i >= 0 else -1
    start = j + len(THINK_CLOSE) if i >= 0 and j >= 0 else 0
    a, b = text.find(ANSWER_OPEN, start), text.find(ANSWER_CLOSE, start)
    return None if a < 0 or b < 0 else parse_number(text[a + len(ANSWER_OPEN):b])[0]


def answer_by_regex_without_dotall(text):          # "." stops at a newline
    thinking = re.search(r"<think>.*?</think>", text)
    rest = text[thinking.end():] if thinking else text
    found = re.search(r"<answer>(.*?)</answer>", rest)
    return parse_number(found.group(1))[0] if found else None


def answer_by_regex_ignoring_case(text):           # <Answer> is not <answer>
    thinking = re.search(r"<think>.*?</think>", text, re.S | re.I)
    found = re.search(r"<answer>(.*?)</answer>", text[thinking.end():] if thinking else text, re.S | re.I)
    return parse_number(found.group(1))[0] if found else None


def answer_strips_spaces_only(text):               # strip(" "): a newline or tab stays
    return _answer(text, parse=lambda s: int(s.strip(" ").translate(PERSIAN_TO_LATIN))
                   if s.strip(" ") and len(s.strip(" ")) <= 12 and all(
                       c in "0123456789۰۱۲۳۴۵۶۷۸۹" for c in s.strip(" ")) else None)


def answer_counts_length_before_stripping(text):   # " 123456789012 " is 14 characters
    return _answer(text, parse=lambda s: parse_number(s)[0] if len(s) <= 12 else None)


def answer_with_isdecimal(text):                   # isdecimal() and int(): any script's digits
    return _answer(text, parse=lambda s: int(s) if s.strip().isdecimal() and len(s.strip()) <= 12
                   else None)


def answer_with_int_of_latin_text(text):           # int() also takes "+5" and "1_000"
    def parse(s):
        s = s.strip().translate(PERSIAN_TO_LATIN)
        try:
            return int(s) if s.isascii() and len(s) <= 12 and not s.startswith("-") else None
        except ValueError:
            return None
    return _answer(text, parse=parse)


def answer_zero_is_no_answer(text):                # `or None` turns the answer 0 into None
    return _answer(text) or None


ANSWER_EDGES = [answer_after_the_last_think, answer_after_any_close_if_opened,
                answer_after_an_unclosed_think, answer_falls_back_to_the_start,
                answer_close_searched_from_the_start, answer_by_regex_without_dotall,
                answer_by_regex_ignoring_case, answer_strips_spaces_only,
                answer_counts_length_before_stripping, answer_with_isdecimal,
                answer_with_int_of_latin_text, answer_zero_is_no_answer]


@pytest.mark.parametrize("broken", ANSWER_EDGES)
def test_answer_checker_rejects_extractions_wrong_on_tag_orders_whitespace_or_digits(broken):
    v = check_extract_answer(broken)
    assert v.status == FAILED and "expected" in v.message, v


def test_answer_checker_says_not_done_for_the_stub():
    assert check_extract_answer(stub).status == NOT_DONE


# ------------------------------------------------------------------ 1.4 encode

TOK = CharTokenizer()
TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def _encode(text, tags=TAGS, step_after_tag=0, unknown="raise", bos=False):
    ids, i = ([TOK.bos_id] if bos else []), 0
    while i < len(text):
        tag = next((t for t in tags if text.startswith(t, i)), None)
        if tag is not None:
            ids.append(TOK.stoi[tag])
            i += len(tag) + step_after_tag
        elif text[i] in TOK.stoi:
            ids.append(TOK.stoi[text[i]])
            i += 1
        elif unknown == "skip":
            i += 1
        elif unknown == "keyerror":
            raise KeyError(text[i])
        else:
            raise ValueError(f"unknown character {text[i]!r}")
    return ids


def encode_without_tags(text):
    return _encode(text, tags=())


def encode_skipping_unknown(text):
    return _encode(text, unknown="skip")


def encode_off_by_one_after_a_tag(text):
    return _encode(text, step_after_tag=-1)


def encode_every_special_token_as_a_tag(text):   # <pad>, <bos>, <eos> too
    return _encode(text, tags=tuple(t for t in TOK.stoi if len(t) > 1))


def encode_with_key_error(text):
    return _encode(text, unknown="keyerror")


def encode_with_bos(text):
    return _encode(text, bos=True)


def test_encode_checker_accepts_the_course_function_and_the_spec():
    assert check_encode(CharTokenizer().encode).passed
    assert check_encode(_encode).passed


@pytest.mark.parametrize("broken", [encode_without_tags, encode_skipping_unknown,
                                    encode_off_by_one_after_a_tag,
                                    encode_every_special_token_as_a_tag, encode_with_key_error,
                                    encode_with_bos])
def test_encode_checker_rejects(broken):
    assert check_encode(broken).status == FAILED


def encode_stripped(text):                         # " 3+4? " loses its spaces
    return _encode(text.strip())


def encode_by_regex(text):                         # re.findall(".") skips a newline silently
    ids = []
    for piece in re.findall(r"</?think>|</?answer>|.", text):
        if piece not in TOK.stoi:
            raise ValueError(f"unknown character {piece!r}")
        ids.append(TOK.stoi[piece])
    return ids


def encode_any_digit(text):                        # ٣ or １ read as the Latin digit
    import unicodedata
    return _encode("".join(str(unicodedata.digit(c)) if c.isdigit() and c not in TOK.stoi else c
                           for c in text))


def encode_skipping_whitespace(text):              # "\n" and "\r" are not characters of ours
    return _encode("".join(c for c in text if c in TOK.stoi or not c.isspace()))


ENCODE_EDGES = [encode_stripped, encode_by_regex, encode_any_digit, encode_skipping_whitespace]


@pytest.mark.parametrize("broken", ENCODE_EDGES)
def test_encode_checker_rejects_encoders_wrong_on_whitespace_or_other_digits(broken):
    assert check_encode(broken).status == FAILED


def test_encode_checker_says_not_done_for_the_stub_and_names_a_wrong_exception():
    assert check_encode(stub).status == NOT_DONE
    v = check_encode(encode_with_key_error)
    assert "raised KeyError" in v.message and "raises ValueError" in v.message


@pytest.mark.parametrize("checker, solution", [
    (check_causal_mask, causal_mask), (check_top_p_filter, lambda x, p: filter_logits(x, top_p=p)),
    (check_extract_answer, lambda text: verify(text).answer), (check_encode, _encode)])
def test_checkers_are_fast_and_deterministic(checker, solution):
    start = time.perf_counter()
    first = checker(solution)
    assert time.perf_counter() - start < 1.0 and first == checker(solution) and first.cases > 15


# ------------------------------------------------------------------ the experiment runners

@pytest.fixture(scope="module")
def small_model():
    return make_model(TOK.vocab_size, block_size=48, n_layer=1, n_head=2, n_embd=16, seed=3)


@pytest.mark.parametrize("temperature, top_p", [(0.0, None), (1.0, None)])
def test_sampled_completions_are_answers_own(small_model, temperature, top_p):
    problems = sample_problems(6, 2, split="test", seed=4)
    for style in ("direct", "step_by_step"):
        ours = exercise_runs.sampled_completions(small_model, TOK, problems, style,
                                                 temperature=temperature, top_p=top_p, seed=7)
        theirs = answer_problems(small_model, TOK, problems, style, temperature=temperature,
                                 generator=torch.Generator().manual_seed(7)).completions
        assert ours == theirs


def test_sampled_completions_apply_top_p(small_model):
    problems = sample_problems(6, 2, split="test", seed=4)
    hot = exercise_runs.sampled_completions(small_model, TOK, problems, "direct", temperature=5.0,
                                            seed=1)
    greedy = exercise_runs.sampled_completions(small_model, TOK, problems, "direct",
                                               temperature=0.0)
    nucleus = exercise_runs.sampled_completions(small_model, TOK, problems, "direct",
                                                temperature=5.0, top_p=1e-6, seed=1)
    assert nucleus == greedy != hot   # a tiny top_p keeps only the most likely token


def test_temperature_run_returns_curves_and_a_direction(small_model):
    run = exercise_runs.temperature_run(small_model, TOK, 1.0, levels=(1, 2), n_problems=3,
                                        progress=False)
    assert set(run["curves"]) == {"direct, greedy", "direct, T=1", "step by step, greedy",
                                  "step by step, T=1"}
    assert all(set(c) == {1, 2} and all(0 <= a <= 1 for a in c.values())
               for c in run["curves"].values())
    assert run["before"] == run["curves"]["step by step, greedy"][2]
    assert run["baseline"] == ["direct, greedy", "step by step, greedy"]
    fig = exercise_runs.plot_run(run, "number of operations", "title")
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == list(run["curves"])
    assert [line.get_linestyle() for line in lines] == ["--", "-", "--", "-"]
    plt.close(fig)
    assert run["measured"] == direction(run["before"], run["after"],
                                        exercise_runs.SAMPLING_TOLERANCE)


@pytest.mark.parametrize("bad", [None, -1.0, "1.0", float("nan")])
def test_temperature_run_refuses_a_bad_temperature(small_model, bad):
    with pytest.raises(ValueError, match="TEMPERATURE"):
        exercise_runs.temperature_run(small_model, TOK, bad, levels=(1,), n_problems=1,
                                      progress=False)


def test_top_p_run_returns_curves_and_a_direction(small_model):
    run = exercise_runs.top_p_run(small_model, TOK, 0.9, levels=(1, 3), n_problems=3,
                                  progress=False)
    assert set(run["curves"]) == {"greedy", "T=1, top_p=1", "T=1, top_p=0.9"}
    assert run["baseline"] == ["greedy", "T=1, top_p=1"]
    assert all(set(c) == {1, 3} for c in run["curves"].values())
    assert run["measured"] in OUTCOMES


@pytest.mark.parametrize("bad", [None, 0, 1.5, -0.1])
def test_top_p_run_refuses_a_bad_top_p(small_model, bad):
    with pytest.raises(ValueError, match="TOP_P"):
        exercise_runs.top_p_run(small_model, TOK, bad, levels=(1,), n_problems=1, progress=False)


def test_pretraining_run_at_the_tiny_preset_keeps_the_short_model_in_memory(
        small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    tiny = get_preset("tiny")
    run = exercise_runs.pretraining_run(small_model, TOK, tiny, torch.device("cpu"), 5,
                                        levels=(1, 2), n_problems=3, progress=False)
    assert set(run["curves"]) == {f"{s}, {n} steps" for s in ("direct", "step by step")
                                  for n in (tiny.pretrain_steps, 5)}
    assert all(set(c) == {1, 2} and all(0 <= a <= 1 for a in c.values())
               for c in run["curves"].values())
    chapter = run["curves"][f"step by step, {tiny.pretrain_steps} steps"][2] - \
        run["curves"][f"direct, {tiny.pretrain_steps} steps"][2]
    assert run["before"] == pytest.approx(chapter)
    assert run["measured"] in OUTCOMES
    assert run["baseline"] == [f"direct, {tiny.pretrain_steps} steps",
                               f"step by step, {tiny.pretrain_steps} steps"]
    assert list(tmp_path.iterdir()) == []    # nothing saved


@pytest.mark.parametrize("bad", [None, 0, 1001, 10.0, True, 30])
def test_pretraining_run_refuses_bad_steps(small_model, bad):
    with pytest.raises(ValueError, match="PRETRAIN_STEPS"):   # 30: the tiny preset's own
        exercise_runs.pretraining_run(small_model, TOK, get_preset("tiny"), torch.device("cpu"),
                                      bad)


def test_load_base_trains_once_then_loads_from_the_runs_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_PRESET", "tiny")
    model, tokenizer = exercise_runs.load_base(torch.device("cpu"), progress=False)
    assert (tmp_path / "ch01" / "base.pt").exists()
    again, _ = exercise_runs.load_base(torch.device("cpu"))
    assert "loaded from runs/ch01/base.pt" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values()))


# ------------------------------------------------------------------ the notebooks

EXERCISES = ROOT / "notebooks" / "01_what_is_reasoning_exercises.ipynb"
SOLUTIONS = ROOT / "notebooks" / "solutions" / "01_what_is_reasoning_solutions.ipynb"
HEADING = re.compile(r"^### Exercise 1\.(\d+): \S.*$", re.M)


def _cells(path):
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text())["cells"]]


@pytest.mark.parametrize("path", [EXERCISES, SOLUTIONS], ids=["exercises", "solutions"])
def test_notebook_has_the_exercises_in_order_and_the_chapters_setup_cell(path):
    cells = _cells(path)
    chapter = _cells(ROOT / "notebooks" / "01_what_is_reasoning.ipynb")
    assert cells[1] == chapter[1]
    numbers = [int(n) for kind, text in cells if kind == "markdown" for n in HEADING.findall(text)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6


def test_exercises_notebook_holds_stubs_and_blank_predictions():
    code = "\n".join(text for kind, text in _cells(EXERCISES) if kind == "code")
    assert code.count("raise NotImplementedError") == 4
    assert code.count("PREDICTION = None") == 3 and "PRETRAIN_STEPS = None" in code
    solutions = "\n".join(text for kind, text in _cells(SOLUTIONS) if kind == "code")
    assert "NotImplementedError" not in solutions and "= None  #" not in solutions
