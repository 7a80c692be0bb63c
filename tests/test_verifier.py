"""The verifier: hand-written cases, fuzzing (never raises), megabyte garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ch01_what_is_reasoning.arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
from ch01_what_is_reasoning.verifier import MAX_ANSWER_DIGITS, Verdict, parse_number, verify

T, ET, A, EA = THINK, END_THINK, ANSWER, END_ANSWER


def test_well_formed_correct():
    v = verify(f"{T}12+3=15{ET}{A}15{EA}", 15)
    assert v == Verdict(well_formed=True, has_answer=True, answer=15, correct=True,
                        thinking="12+3=15", answer_script="latin")


def test_whitespace_around_blocks_is_allowed():
    v = verify(f"  {T}x{ET}\n {A} 15 {EA}\n", 15)
    assert v.well_formed and v.correct and v.answer == 15


def test_wrong_answer():
    v = verify(f"{T}12+3=15{ET}{A}16{EA}", 15)
    assert v.well_formed and v.has_answer and v.answer == 16 and not v.correct


def test_expected_none_only_parses():
    v = verify(f"{T}{ET}{A}7{EA}")
    assert v.has_answer and v.answer == 7 and not v.correct


def test_empty_think_is_well_formed():
    v = verify(f"{T}{ET}{A}7{EA}", 7)
    assert v.well_formed and v.thinking == ""


@pytest.mark.parametrize("text", [
    f"{A}15{EA}",                       # no think block
    f"{T}x{A}15{EA}",                   # think never closed
    f"{T}x{ET}15",                      # no answer tags
    f"{T}x{ET}{A}15",                   # answer never closed
    f"{T}x{ET}15{EA}",                  # answer never opened
    f"so {T}x{ET}{A}15{EA}",            # text before the template
    f"{T}x{ET}{A}15{EA} and more",      # text after the template
    f"{T}x{ET}junk{A}15{EA}",           # text between the blocks
])
def test_malformed(text):
    v = verify(text, 15)
    assert not v.well_formed


def test_missing_tags_has_no_answer():
    for text in ["15", f"{T}15{ET}", f"{T}x{ET}{A}15", "the answer is 15"]:
        v = verify(text, 15)
        assert not v.has_answer and v.answer is None and not v.correct
        assert v.answer_script is None


def test_answer_without_think_is_still_an_answer():
    v = verify(f"{A}15{EA}", 15)
    assert v.has_answer and v.correct and not v.well_formed and v.thinking is None


def test_two_answers():
    v = verify(f"{T}x{ET}{A}15{EA}{A}16{EA}", 15)
    assert not v.well_formed
    assert v.has_answer and v.answer == 15  # the first answer after thinking counts
    v = verify(f"{T}x{ET}{A}16{EA}{A}15{EA}", 15)
    assert not v.well_formed and not v.correct


def test_answer_inside_thinking_is_not_the_answer():
    v = verify(f"{T}maybe {A}15{EA}{ET}{A}16{EA}", 15)
    assert v.answer == 16 and not v.correct and not v.well_formed


def test_two_think_blocks_are_malformed():
    v = verify(f"{T}a{ET}{T}b{ET}{A}15{EA}", 15)
    assert not v.well_formed


def test_persian_answer():
    v = verify(f"{T}۱۲+۳=۱۵{ET}{A}۱۵{EA}", 15)
    assert v.well_formed and v.correct and v.answer == 15 and v.answer_script == "persian"


def test_mixed_digit_answer():
    v = verify(f"{T}x{ET}{A}1۵{EA}", 15)
    assert v.correct and v.answer == 15 and v.answer_script == "mixed"


@pytest.mark.parametrize("inside", ["", " ", "-3", "1.5", "15a", "1 5", "x", "+15",
                                    "1" * (MAX_ANSWER_DIGITS + 1), "١٥"])  # last: Arabic-Indic
def test_non_numbers_are_not_answers(inside):
    v = verify(f"{T}x{ET}{A}{inside}{EA}", 15)
    assert not v.has_answer and v.answer is None and not v.correct and not v.well_formed


def test_longest_allowed_number():
    v = verify(f"{T}x{ET}{A}{'9' * MAX_ANSWER_DIGITS}{EA}", int("9" * MAX_ANSWER_DIGITS))
    assert v.correct


def test_leading_zeros():
    assert verify(f"{T}x{ET}{A}015{EA}", 15).correct


def test_parse_number():
    assert parse_number("42") == (42, "latin")
    assert parse_number("۴۲") == (42, "persian")
    assert parse_number("4۲") == (42, "mixed")
    assert parse_number(" 7 ") == (7, "latin")
    assert parse_number("") == (None, None)
    assert parse_number("4 2") == (None, None)


@pytest.mark.parametrize("value", [None, 15, 15.0, b"<answer>15</answer>", ["x"], object()])
def test_non_string_input_does_not_raise(value):
    assert isinstance(verify(value, 15), Verdict)


def test_never_evaluates_text_as_code():
    calls = []
    import builtins

    original = builtins.eval
    builtins.eval = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        v = verify(f"{T}x{ET}{A}__import__('os').system('false'){EA}", 0)
        v2 = verify(f"{T}x{ET}{A}10+5{EA}", 15)
    finally:
        builtins.eval = original
    assert not calls
    assert not v.has_answer and not v2.has_answer and not v2.correct


pieces = st.one_of(
    st.sampled_from([T, ET, A, EA, "<", ">", "/", "think", "answer", " ", "\n"]),
    st.text(alphabet="0123456789۰۱۲۳۴۵۶۷۸۹", max_size=14),
    st.text(max_size=8),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(pieces, max_size=20), st.one_of(st.none(), st.integers(0, 10**13)))
def test_fuzz_never_raises(parts, expected):
    text = "".join(parts)
    v = verify(text, expected)
    assert isinstance(v, Verdict)
    assert v.has_answer == (v.answer is not None)
    assert v.correct == (v.has_answer and expected is not None and v.answer == expected)
    if v.well_formed:
        assert v.has_answer and v.thinking is not None
        assert text.count(T) == text.count(ET) == text.count(A) == text.count(EA) == 1
    if v.has_answer:
        assert v.answer_script in ("latin", "persian", "mixed")
        assert 0 <= v.answer < 10**MAX_ANSWER_DIGITS
    else:
        assert v.answer_script is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.integers(0, 10**6), st.sampled_from(["latin", "persian"]))
def test_fuzz_well_formed_round_trip(thinking, number, script):
    """Any thinking without tags, any number in either script: parsed back exactly."""
    from ch01_what_is_reasoning.arithmetic import to_script

    for tag in (T, ET, A, EA):
        thinking = thinking.replace(tag, "")
    answer = to_script(str(number), script)
    v = verify(f"{T}{thinking}{ET}{A}{answer}{EA}", number)
    assert v.well_formed and v.correct and v.thinking == thinking
    assert v.answer_script == script


@pytest.mark.parametrize("garbage", [
    "9" * 3_000_000,
    (T + "1") * 500_000,
    A + "1" * 3_000_000 + EA,
    T + "x" * 2_000_000 + ET + A + "۵" * 1_000_000 + EA,
    (A + EA + "<" + "answer") * 200_000,
])
def test_megabytes_of_garbage_return(garbage):
    v = verify(garbage, 5)
    assert isinstance(v, Verdict)
    assert not v.correct
