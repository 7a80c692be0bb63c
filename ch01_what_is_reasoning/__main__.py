"""python -m ch01_what_is_reasoning [--preset cpu|gpu|tiny|auto] [--runs DIR]"""

import argparse

from .chapter import run_chapter, summary_table


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ch01_what_is_reasoning",
                                     description="Chapter 1: what reasoning is, measured.")
    parser.add_argument("--preset", default="auto", choices=["auto", "cpu", "gpu", "tiny"],
                        help="model size and step counts (default: auto = gpu on CUDA, else cpu)")
    parser.add_argument("--runs", default=None, help="folder for runs/ (default: the repo's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    results = run_chapter(args.preset, args.runs, progress=not args.quiet)
    print(summary_table(results))


if __name__ == "__main__":
    main()
