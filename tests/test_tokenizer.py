"""The character tokenizer: round trips, tags as single tokens, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ch01_what_is_reasoning.arithmetic import ANSWER, END_ANSWER, END_THINK, THINK
from ch01_what_is_reasoning.tokenizer import (
    BOS,
    CHARACTERS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    CharTokenizer,
    UnknownCharacterError,
)

TAGS = [THINK, END_THINK, ANSWER, END_ANSWER]
pieces = st.lists(st.one_of(st.sampled_from(list(CHARACTERS)), st.sampled_from(TAGS)))


def test_vocabulary(tok):
    assert tok.vocab_size == len(SPECIAL_TOKENS) + len(CHARACTERS)
    assert len(set(tok.itos)) == tok.vocab_size
    assert [tok.pad_id, tok.bos_id, tok.eos_id] == [tok.token_id(t) for t in (PAD, BOS, EOS)]
    assert len({tok.pad_id, tok.bos_id, tok.eos_id}) == 3


@given(pieces)
def test_round_trip(parts):
    tok = CharTokenizer()
    text = "".join(parts)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len(parts)  # every character and every tag is exactly one token
    assert all(0 <= i < tok.vocab_size for i in ids)
    ids_be = tok.encode(text, bos=True, eos=True)
    assert ids_be == [tok.bos_id] + ids + [tok.eos_id]
    assert tok.decode(ids_be) == text


def test_tags_are_single_tokens(tok):
    for tag in TAGS:
        ids = tok.encode(tag)
        assert ids == [tok.token_id(tag)]
        assert tok.decode(ids) == tag
    text = f"{THINK}12+3=15{END_THINK}{ANSWER}15{END_ANSWER}"
    ids = tok.encode(text)
    assert len(ids) == 4 + len("12+3=15") + len("15")
    assert ids[0] == tok.token_id(THINK)
    assert ids[8] == tok.token_id(END_THINK)


def test_persian_digits_are_known(tok):
    text = "(۱۲+۸)*۲?"
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(text)) == len(text)


def test_decode_skips_specials_by_default(tok):
    ids = [tok.bos_id] + tok.encode("ab") + [tok.eos_id, tok.pad_id, tok.pad_id]
    assert tok.decode(ids) == "ab"
    assert tok.decode(ids, skip_special=()) == f"{BOS}ab{EOS}{PAD}{PAD}"


def test_decode_accepts_tensors(tok):
    import torch

    assert tok.decode(torch.tensor(tok.encode("1+2"))) == "1+2"


@pytest.mark.parametrize("bad", [-1, 10_000])
def test_decode_rejects_out_of_range_ids(tok, bad):
    with pytest.raises(ValueError, match=str(bad)):
        tok.decode([bad])


@pytest.mark.parametrize("text,char,position", [
    ("12+3=X", "X", 5),
    ("hello! world", "!", 5),
    ("<think>1</thin>", "<", 8),   # a broken tag is not a tag
    ("2/3", "/", 1),
    ("\n", "\n", 0),
])
def test_unknown_character_error_names_the_character(tok, text, char, position):
    assert char not in CHARACTERS
    with pytest.raises(UnknownCharacterError) as info:
        tok.encode(text)
    message = str(info.value)
    assert repr(char) in message
    assert f"position {position}" in message
    assert f"U+{ord(char):04X}" in message
    assert isinstance(info.value, ValueError)


def test_error_for_uppercase_mentions_what_is_known(tok):
    with pytest.raises(UnknownCharacterError, match="lowercase a-z"):
        tok.encode("ABC")
