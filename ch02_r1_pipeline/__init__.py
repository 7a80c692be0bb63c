"""Chapter 2: the DeepSeek-R1 pipeline at toy scale (R1-Zero, R1, R1-Distill).

Work in progress: the rule rewards and the GRPO loss are here and tested; the pipeline
stages and the notebook are not yet.
"""
