"""The exercises' shape, chapter by chapter: enough of each kind, a stub in every build-it cell of
the student's notebook, and a solutions notebook that answers the same exercises.

(pytest executes all these notebooks too; these tests check what execution cannot: that the
student's copy is unsolved and that the two copies agree.)"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = ("01_what_is_reasoning", "02_r1_pipeline", "03_four_methods", "04_budget")
HEADING = re.compile(r"^### Exercise (\d+)\.(\d+): \S", re.M)


def exercises(path: Path) -> dict[str, str]:
    """{"N.M": the code of the cells under that heading, up to the next heading}."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found, current = {}, None
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            match = HEADING.search(source)
            if match:
                current = f"{match.group(1)}.{match.group(2)}"
                found[current] = ""
            elif source.lstrip().startswith("#"):
                current = None   # another section ends the exercise
        elif current is not None:
            found[current] += source + "\n"
    return found


def kind(code: str) -> str:
    if re.search(r"\bcheck_\w+\(", code):
        return "build it"
    if "ready(" in code:
        return "experiment"
    return "other"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_six_exercises_three_built_and_two_experiments(chapter):
    found = exercises(NOTEBOOKS / f"{chapter}_exercises.ipynb")
    number = str(int(chapter[:2]))
    assert all(key.split(".")[0] == number for key in found), sorted(found)
    kinds = [kind(code) for code in found.values()]
    assert len(found) >= 6, sorted(found)
    assert kinds.count("build it") >= 3, dict(zip(found, kinds))
    assert kinds.count("experiment") >= 2, dict(zip(found, kinds))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_students_copy_is_unsolved_and_the_solutions_answer_the_same_exercises(chapter):
    student = exercises(NOTEBOOKS / f"{chapter}_exercises.ipynb")
    solutions = exercises(NOTEBOOKS / "solutions" / f"{chapter}_solutions.ipynb")
    assert sorted(solutions) == sorted(student)
    for key, code in student.items():
        if kind(code) == "build it":
            assert "raise NotImplementedError" in code, f"exercise {key} is solved in the student's copy"
            assert "raise NotImplementedError" not in solutions[key], f"solution {key} is a stub"
        if kind(code) == "experiment":
            assert re.search(r"^PREDICTION = None", code, re.M), f"exercise {key} has a prediction filled in"
            assert not re.search(r"^PREDICTION = None", solutions[key], re.M), key


def test_the_heading_reader_finds_exercises_and_stops_at_the_next_section(tmp_path):
    cells = [{"cell_type": "markdown", "source": ["### Exercise 2.1: the format reward\n", "text"]},
             {"cell_type": "code", "source": ["def f():\n", "    raise NotImplementedError\n",
                                              "check_format(f)"]},
             {"cell_type": "markdown", "source": ["## Wrap-up"]},
             {"cell_type": "code", "source": ["print('not part of it')"]},
             {"cell_type": "markdown", "source": ["### Exercise 2.2: group size\n"]},
             {"cell_type": "code",
              "source": ["PREDICTION = None\n", "if ready('2.2', PREDICTION=PREDICTION): pass"]}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    found = exercises(path)
    assert list(found) == ["2.1", "2.2"]
    assert kind(found["2.1"]) == "build it" and kind(found["2.2"]) == "experiment"
    assert "not part of it" not in found["2.1"]
