"""Helpers shared by several test modules (conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import ast
import contextlib
import io
import json

import torch

from ch01_what_is_reasoning.arithmetic import LATIN_DIGITS
from ch01_what_is_reasoning.model import GPT, GPTConfig


def safe_eval(expression: str) -> int:
    """Evaluate a Latin-digit + - * ( ) expression with a whitelist of AST nodes (never eval)."""
    assert set(expression) <= set(LATIN_DIGITS + "+-*()"), expression

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp):
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        raise AssertionError(f"disallowed syntax {ast.dump(node)} in {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


def make_model(vocab_size: int, *, block_size: int = 32, n_layer: int = 2, n_head: int = 2,
               n_embd: int = 16, seed: int = 0, scale: float = 1.0) -> GPT:
    """A tiny random GPT in eval mode. `scale` > 1 sharpens the output distribution (fewer
    near-ties between logits, so greedy comparisons are robust to float rounding)."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                          n_head=n_head, n_embd=n_embd))
    if scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(scale)
    return model.eval()


def run_chapter_cli(main, root, chapter: str):
    """Run a chapter's CLI at the tiny preset into `root`, quietly; returns
    (results.json as read back, what the CLI printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["--preset", "tiny", "--runs", str(root), "--quiet"])
    return json.loads((root / chapter / "results.json").read_text()), out.getvalue()
