"""A character-level tokenizer with the R1 template tags as single tokens.

Every character of the arithmetic world is one token; `<think>`, `</think>`, `<answer>` and
`</answer>` are one token each, so the template costs 4 tokens, not 32 characters.
"""

from __future__ import annotations

import string

from .arithmetic import ANSWER, END_ANSWER, END_THINK, LATIN_DIGITS, PERSIAN_DIGITS, THINK

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, BOS, EOS, THINK, END_THINK, ANSWER, END_ANSWER)
CHARACTERS = LATIN_DIGITS + PERSIAN_DIGITS + "+-*()=?:., " + string.ascii_lowercase


class UnknownCharacterError(ValueError):
    """Raised for text the tokenizer cannot represent, naming the character and where it is."""


class CharTokenizer:
    def __init__(self, characters: str = CHARACTERS, special_tokens=SPECIAL_TOKENS):
        self.itos = list(special_tokens) + list(characters)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        # Longest tags first, so "</think>" is never read as "<" + "/think>".
        self._tags = sorted((t for t in special_tokens if t not in (PAD, BOS, EOS)), key=len,
                            reverse=True)
        self.pad_id, self.bos_id, self.eos_id = (self.stoi[t] for t in (PAD, BOS, EOS))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def token_id(self, token: str) -> int:
        return self.stoi[token]

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.bos_id] if bos else []
        i = 0
        while i < len(text):
            tag = next((t for t in self._tags if text.startswith(t, i)), None)
            if tag is not None:
                ids.append(self.stoi[tag])
                i += len(tag)
                continue
            ch = text[i]
            if ch not in self.stoi:
                raise UnknownCharacterError(
                    f"character {ch!r} (U+{ord(ch):04X}) at position {i} of {text[:40]!r} is "
                    f"not in the vocabulary; the model knows digits 0-9 and ۰-۹, the symbols "
                    f"{''.join(c for c in self.itos if len(c) == 1 and not c.isalnum())!r}, "
                    f"lowercase a-z and the tags {self._tags}")
            ids.append(self.stoi[ch])
            i += 1
        if eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, skip_special: tuple[str, ...] = (PAD, BOS, EOS)) -> str:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"token id {i} is outside the vocabulary (0..{len(self.itos) - 1})")
            tok = self.itos[i]
            if tok not in skip_special:
                out.append(tok)
        return "".join(out)
