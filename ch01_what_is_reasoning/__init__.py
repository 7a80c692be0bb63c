"""Chapter 1: what reasoning is, measured on a small GPT.

Everything later chapters build on lives here: the arithmetic world (arithmetic.py,
corpus.py), the tokenizer, the GPT (model.py), sampling, training, the verifier, and the
chapter's experiments and checked exercises. The shared plumbing (device, seeds, presets,
checkpoints, caches, overrides, the CLI, the exercise framework) is the `course` package.
"""
