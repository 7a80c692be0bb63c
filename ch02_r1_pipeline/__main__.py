"""python -m ch02_r1_pipeline [--preset cpu|gpu|tiny|auto] [--runs DIR] [--quiet]"""

from course.cli import chapter_cli

from .chapter import run_chapter, summary_table


def main(argv=None):
    chapter_cli("python -m ch02_r1_pipeline",
                "Chapter 2: the DeepSeek-R1 pipeline at toy scale. Finished stages are loaded, "
                "not rerun.", run_chapter, summary_table, argv)


if __name__ == "__main__":
    main()
