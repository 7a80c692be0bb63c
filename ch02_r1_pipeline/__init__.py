"""Chapter 2: the DeepSeek-R1 pipeline at toy scale (R1-Zero, R1, R1-Distill).

- rewards.py: the rule rewards (accuracy, format, language consistency), TRL's signature,
  the registry by name and the named weight combinations
- grpo_loss.py: group-relative advantages, the clipped objective, k3 KL, three aggregations
- grpo.py: the GRPO loop (rollouts, scoring, updates, logs, checkpoints and resume)
- sft.py: SFT on completions, cold-start traces, rejection sampling, knowledge data
- tasks.py: RL prompts and the held-out test set every stage is scored on
- off_rule.py: when not to think, on easy questions no training example labelled
- recipe.py: the R1 recipe as a table of stages (kind, inputs, typed settings), per preset,
  and the `--set` overrides of it, checked before any training
- runner.py: the Pipeline that runs (or loads) each stage by its kind, scores it and saves it,
  each cached with the fingerprint of what made it (stage_data.py: the data stages' sets)
- chapter.py, plots.py, inspector.py, __main__.py: results.json, plots, widget, CLI
"""
