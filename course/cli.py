"""The command line every chapter shares:
python -m chNN_... [--preset] [--runs] [--quiet] [--set key=value ...]."""

from __future__ import annotations

import argparse
import sys

from .overrides import OverrideError, parse_sets


def chapter_cli(prog: str, description: str, run_chapter, summary_table, argv=None) -> dict:
    """Parse the common options, run the chapter, print its summary table, return the results."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--preset", default="auto", choices=["auto", "cpu", "gpu", "tiny"],
                        help="model size and step counts (default: auto = the cpu preset's settings on "
                             "any device; gpu is an experimental, larger opt-in)")
    parser.add_argument("--runs", default=None, help="folder for runs/ (default: the repo's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                        help="change one setting, e.g. --set r1_zero.lr=2e-4 (repeatable); a "
                             "wrong key lists the valid ones. Cached stages the change touches "
                             "are retrained.")
    args = parser.parse_args(argv)
    try:
        overrides = parse_sets(args.sets)
        results = run_chapter(args.preset, args.runs, progress=not args.quiet, overrides=overrides)
    except OverrideError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(summary_table(results))
    return results
