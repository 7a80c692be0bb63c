"""How a BPE tokenizer (tiktoken) chops numbers, with an offline path.

Real LLMs do not read characters: a byte-pair-encoding tokenizer merges frequent byte pairs
into tokens, so "1234" may be one token or two, depending on what was frequent in training.
That is one reason real models find arithmetic awkward, and why this course uses characters.

Where the real encoding can be loaded (Colab, or $COURSE_ONLINE=1), `load_encoding` uses it.
Offline it trains a small BPE on course text and wraps the ranks in a real `tiktoken.Encoding`.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

# Split text into words, numbers (1-3 digits at a time, like cl100k) and single symbols.
PATTERN = r"""\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+"""


def train_bpe_ranks(texts: list[str], n_merges: int = 200) -> dict[bytes, int]:
    """Byte-level BPE: start from the 256 bytes, repeatedly merge the most frequent pair."""
    import regex

    ranks = {bytes([b]): b for b in range(256)}
    words = Counter(tuple(bytes([b]) for b in w.encode()) for t in texts
                    for w in regex.findall(PATTERN, t))
    for _ in range(n_merges):
        pairs = Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[a, b] += count
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))  # ties: deterministic
        merged = a + b
        ranks[merged] = len(ranks)
        new_words = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += count
        words = new_words
    return ranks


def local_encoding(texts: list[str], n_merges: int = 200):
    """A real tiktoken Encoding built from BPE ranks trained here, on `texts`."""
    import tiktoken

    return tiktoken.Encoding(name=f"course_bpe_{n_merges}", pat_str=PATTERN,
                             mergeable_ranks=train_bpe_ranks(texts, n_merges), special_tokens={})


def on_colab() -> bool:
    return "google.colab" in sys.modules


def load_encoding(name: str = "cl100k_base", fallback_texts: list[str] | None = None,
                  online: bool | None = None):
    """The real `name` encoding when online (Colab or $COURSE_ONLINE=1), else a local one.

    Returns (encoding, source) and says which one it used: no silent fallback.
    """
    import tiktoken

    online = (on_colab() or os.environ.get("COURSE_ONLINE") == "1") if online is None else online
    if online:
        try:
            return tiktoken.get_encoding(name), f"tiktoken '{name}' (downloaded)"
        except Exception as err:  # no network, blocked host, ...: say so, then go local
            print(f"could not load tiktoken '{name}' ({type(err).__name__}: {err}); "
                  f"training a local BPE instead")
    if not fallback_texts:
        raise ValueError("offline: pass fallback_texts to train a local BPE encoding on")
    return local_encoding(fallback_texts), "local BPE trained on course text (offline)"


def show_tokens(encoding, text: str) -> list[str]:
    """The pieces `encoding` cuts `text` into, as strings."""
    return [encoding.decode_single_token_bytes(t).decode("utf-8", errors="replace")
            for t in encoding.encode(text)]
