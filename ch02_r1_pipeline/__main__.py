"""python -m ch02_r1_pipeline [--preset cpu|gpu|tiny|auto] [--runs DIR]"""

import argparse

from .chapter import run_chapter, summary_table


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ch02_r1_pipeline",
                                     description="Chapter 2: the DeepSeek-R1 pipeline at toy "
                                                 "scale. Finished stages are loaded, not rerun.")
    parser.add_argument("--preset", default="auto", choices=["auto", "cpu", "gpu", "tiny"],
                        help="model size and step counts (default: auto = gpu on CUDA, else cpu)")
    parser.add_argument("--runs", default=None, help="folder for runs/ (default: the repo's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    results = run_chapter(args.preset, args.runs, progress=not args.quiet)
    print(summary_table(results))


if __name__ == "__main__":
    main()
