"""The command line every chapter shares: python -m chNN_... [--preset] [--runs] [--quiet]."""

from __future__ import annotations

import argparse


def chapter_cli(prog: str, description: str, run_chapter, summary_table, argv=None) -> dict:
    """Parse the common options, run the chapter, print its summary table, return the results."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--preset", default="auto", choices=["auto", "cpu", "gpu", "tiny"],
                        help="model size and step counts (default: auto = gpu on CUDA, else cpu)")
    parser.add_argument("--runs", default=None, help="folder for runs/ (default: the repo's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    results = run_chapter(args.preset, args.runs, progress=not args.quiet)
    print(summary_table(results))
    return results
