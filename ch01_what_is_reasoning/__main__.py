"""python -m ch01_what_is_reasoning [--preset cpu|gpu|tiny|auto] [--runs DIR] [--quiet]"""

from course.cli import chapter_cli

from .chapter import run_chapter, summary_table


def main(argv=None):
    chapter_cli("python -m ch01_what_is_reasoning", "Chapter 1: what reasoning is, measured.",
                run_chapter, summary_table, argv)


if __name__ == "__main__":
    main()
