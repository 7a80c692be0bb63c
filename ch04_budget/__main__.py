"""python -m ch04_budget [--preset cpu|gpu|tiny|auto] [--runs DIR] [--quiet]"""

from course.cli import chapter_cli

from .chapter import run_chapter, summary_table


def main(argv=None):
    chapter_cli("python -m ch04_budget",
                "Chapter 4: reasoning on a small budget (the bill, Sky-T1, TinyZero, journey "
                "learning). Uses chapter 2's checkpoints (trains any that are missing).",
                run_chapter, summary_table, argv)


if __name__ == "__main__":
    main()
