"""python -m ch03_four_methods [--preset cpu|gpu|tiny|auto] [--runs DIR] [--quiet]"""

from course.cli import chapter_cli

from .chapter import run_chapter, summary_table


def main(argv=None):
    chapter_cli("python -m ch03_four_methods",
                "Chapter 3: the four methods side by side, with the compute each one spent. "
                "Uses chapter 2's checkpoints (trains any that are missing).",
                run_chapter, summary_table, argv)


if __name__ == "__main__":
    main()
