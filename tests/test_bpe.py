"""The BPE demo: local tiktoken encodings, the offline path, show_tokens."""

from __future__ import annotations

import socket

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from ch01_what_is_reasoning import bpe
from ch01_what_is_reasoning.bpe import load_encoding, local_encoding, show_tokens, train_bpe_ranks
from ch01_what_is_reasoning.corpus import training_examples

TEXTS = [e.prompt + e.completion for e in training_examples(200, seed=0)]


@pytest.fixture(scope="module")
def enc():
    return local_encoding(TEXTS, n_merges=100)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or fetch a tiktoken file fails the test."""
    def refuse(*a, **k):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(tiktoken, "get_encoding", refuse)


def test_ranks_are_a_valid_vocabulary():
    ranks = train_bpe_ranks(TEXTS, n_merges=60)
    assert len(ranks) == 256 + 60
    assert sorted(ranks.values()) == list(range(len(ranks)))  # unique, contiguous ranks
    assert all(ranks[bytes([b])] == b for b in range(256))
    assert train_bpe_ranks(TEXTS, n_merges=60) == ranks  # deterministic
    merged = [t for t, r in ranks.items() if r >= 256]
    assert all(len(t) >= 2 for t in merged)


def test_merges_stop_when_nothing_is_left():
    ranks = train_bpe_ranks(["ab"], n_merges=50)
    assert len(ranks) == 257 and ranks[b"ab"] == 256


def test_local_encoding_is_tiktoken(enc):
    assert isinstance(enc, tiktoken.Encoding)
    assert 256 < enc.n_vocab == len(train_bpe_ranks(TEXTS, n_merges=100)) <= 256 + 100


@pytest.mark.parametrize("text", [
    "(12+8)*2-5?<think>12+8=20 20*2=40 40-5=35</think><answer>35</answer>",
    "(۱۲+۸)*۲-۵?<answer>۳۵</answer>",
    "mixed ۱2۳4 digits",
    "",
    "unicode é ü 漢字 🙂\n\ttabs",
])
def test_local_encoding_round_trips(enc, text):
    ids = enc.encode(text)
    assert enc.decode(ids) == text
    assert all(0 <= i < enc.n_vocab for i in ids)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_local_encoding_round_trips_any_text(enc, text):
    assert enc.decode(enc.encode(text)) == text


def test_merges_compress_course_text(enc):
    text = TEXTS[0]
    assert len(enc.encode(text)) < len(text.encode())


def test_numbers_are_chunked_at_most_three_digits(enc):
    pieces = show_tokens(enc, "1234567")
    assert "".join(pieces) == "1234567"
    assert all(len(p) <= 3 for p in pieces)


def test_show_tokens_joins_back(enc):
    text = "(12+8)*2-5? answer 35"
    pieces = show_tokens(enc, text)
    assert "".join(pieces) == text
    assert len(pieces) == len(enc.encode(text))


def test_offline_load_encoding_never_touches_network(no_network, capsys):
    enc, source = load_encoding(fallback_texts=TEXTS[:50], online=False)
    assert isinstance(enc, tiktoken.Encoding)
    assert "offline" in source
    assert enc.decode(enc.encode("12+3=15 ۱۵")) == "12+3=15 ۱۵"
    assert "could not load" not in capsys.readouterr().out


def test_default_is_offline_off_colab(no_network, monkeypatch):
    monkeypatch.delenv("COURSE_ONLINE", raising=False)
    monkeypatch.setattr(bpe, "on_colab", lambda: False)
    _, source = load_encoding(fallback_texts=TEXTS[:20])
    assert "offline" in source


def test_online_failure_says_so_and_falls_back(no_network, capsys):
    enc, source = load_encoding("cl100k_base", fallback_texts=TEXTS[:20], online=True)
    assert isinstance(enc, tiktoken.Encoding)
    assert "offline" in source
    out = capsys.readouterr().out
    assert "could not load tiktoken 'cl100k_base'" in out


def test_online_success_uses_the_real_encoding(monkeypatch):
    fake = local_encoding(["x"], n_merges=1)
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: fake)
    enc, source = load_encoding("cl100k_base", online=True)
    assert enc is fake and "downloaded" in source


def test_offline_without_texts_raises(no_network):
    with pytest.raises(ValueError, match="fallback_texts"):
        load_encoding(online=False)
