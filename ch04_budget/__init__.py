"""Chapter 4: reasoning on a small budget.

- policy.py: one policy interface for the course GPT and any Hugging Face causal LM, so the
  GRPO loop and rewards of chapter 2 train a real small model ("from toy to real")
"""
