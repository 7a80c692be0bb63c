"""Chapter 1: what reasoning is, measured on a small GPT.

Everything later chapters build on lives here: the arithmetic world (arithmetic.py,
corpus.py), the tokenizer, the GPT (model.py), sampling, training, the verifier, device /
seed / preset / checkpoint handling (runtime.py), typed overrides (overrides.py), caches
that know what made them (cache.py), and the chapter's experiments.
"""
