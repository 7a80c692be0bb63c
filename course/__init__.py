"""The course's shared plumbing, not taught: device, seeds, size presets and checkpoints
(runtime.py), caches that know what made them (cache.py), typed `--set` overrides (overrides.py)
and the ranges every setting is checked against (setting_ranges.py), one writer per cached file
(locks.py), the command line every chapter shares (cli.py) and the framework the checked
exercises run on (exercises.py). Chapters import from here and from earlier chapters; nothing
here imports a chapter (the model it loads checkpoints into is passed in, as `model_class`).
"""
