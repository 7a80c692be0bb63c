"""Chapter 2: the DeepSeek-R1 pipeline at toy scale (R1-Zero, R1, R1-Distill).

- rewards.py: the rule rewards (accuracy, format, language consistency), TRL's signature,
  the registry by name and the named weight combinations
- grpo_loss.py: group-relative advantages, the clipped objective, k3 KL, three aggregations
- grpo.py: the GRPO loop (rollouts, scoring, updates, logs, checkpoints and resume)
- sft.py: SFT on completions, cold-start traces, rejection sampling, knowledge data
- tasks.py: RL prompts and the held-out test set every stage is scored on
- pipeline.py: the R1 recipe as a table of stages (kind, inputs, typed settings), run by
  kind, each cached with the fingerprint of what made it
- chapter.py, plots.py, inspector.py, __main__.py: results.json, plots, widget, CLI
"""
