"""Colab links and setup cells, all written from one place: `[tool.course] repository` in
pyproject.toml.

    python tools/colab.py                # rewrite every badge and setup cell from that URL
    python tools/colab.py README.md      # ... in the named files only
    python tools/colab.py --check        # exit 1 (and say where) if any file disagrees

While `repository` is the placeholder (https://github.com/REPLACE_WITH_OWNER/...), nothing
links to it: the README's rows and the notebooks' first cells carry no Colab badge, and each
notebook's setup cell, on Colab, stops with a message saying what to do instead of cloning a
URL that does not exist (outside Colab it does nothing, as always).

Publishing the course (or a fork): set `repository` to the GitHub URL and run the first
command: every README row and every notebook's first cell then gets a badge opening that
notebook on Colab, and each setup cell clones that URL and installs it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "REPLACE_WITH_OWNER"
GITHUB = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")
SETUP_MARKER = "# On Colab: get the course code first"
NO_REPOSITORY = ("this copy of the course has no published repository yet; upload the repository "
                 "folder or set [tool.course] repository and run tools/colab.py")
BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
COLAB_URL = r"https://colab\.research\.google\.com/github/[^)\"\s]+"

# README: a table row's link to a top-level notebook, and the badge that may follow it.
README_LINK = re.compile(
    r"(\[`[\w-]+`\]\((notebooks/[\w-]+\.ipynb)\))"
    r"(?: \[!\[Open In Colab\]\(" + re.escape(BADGE_SVG) + r"\)\]\(" + COLAB_URL + r"\))?")
# A notebook's first cell: the badge under the title, with the blank line after it.
NOTEBOOK_BADGE = re.compile(
    r'<a href="' + COLAB_URL + r'" target="_parent"><img src="' + re.escape(BADGE_SVG)
    + r'" alt="Open In Colab"/></a>\n?\n?')

# The end of both setup cells: install the course once, then work from its folder.
INSTALL_AND_ENTER = '''\
    if not os.path.exists(INSTALLED):   # a failed install is tried again on the next run
        # the package and its dependencies; Colab's own torch already satisfies torch>=2.2
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", ROOT], check=True)
        open(INSTALLED, "w").close()
    os.chdir(ROOT)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
'''

SETUP_CELL = '''# On Colab: get the course code first (elsewhere this cell does nothing). Safe to re-run.
import sys
if "google.colab" in sys.modules:
    import os, subprocess
    REPO_URL = "{url}"
    ROOT = "/content/{name}"   # an absolute path: a re-run finds the first clone
    INSTALLED = ROOT + "/.colab-installed"   # written only once the install succeeded
    if not os.path.exists(ROOT + "/.git"):
        subprocess.run(["rm", "-rf", ROOT], check=True)   # what a failed clone left
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, ROOT], check=True)
''' + INSTALL_AND_ENTER

# The same cell while the course has no published repository: no URL to clone, so it uses a
# copy uploaded to ROOT, and without one stops, saying what to do.
NO_CLONE_CELL = '''# On Colab: get the course code first (elsewhere this cell does nothing). Safe to re-run.
import sys
if "google.colab" in sys.modules:
    import os, subprocess
    ROOT = "/content/{name}"   # where an uploaded copy of the repository folder goes
    INSTALLED = ROOT + "/.colab-installed"   # written only once the install succeeded
    if not os.path.exists(ROOT + "/pyproject.toml"):
        raise RuntimeError(
            "this copy of the course has no published repository yet; upload the repository "
            "folder or set [tool.course] repository and run tools/colab.py (an uploaded folder "
            "goes to " + ROOT + ")")
''' + INSTALL_AND_ENTER


def repository(root: Path = ROOT) -> str:
    """`repository = "..."` under `[tool.course]` in pyproject.toml (read as text: no TOML
    parser is needed on Python 3.10)."""
    text = (root / "pyproject.toml").read_text()
    section = text.split("[tool.course]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^repository\s*=\s*"([^"]+)"', section, re.M).group(1).rstrip("/")


def published(repo: str) -> bool:
    """False while `repo` is the placeholder; a real one must be https://github.com/OWNER/NAME
    (Colab opens notebooks from GitHub), anything else is refused."""
    if PLACEHOLDER in repo:
        return False
    if not GITHUB.fullmatch(repo):
        raise ValueError(f"[tool.course] repository = {repo!r}: Colab opens notebooks from GitHub, "
                         f"so set it to https://github.com/OWNER/NAME (or leave the placeholder)")
    return True


def badge_url(repo: str, notebook: str) -> str:
    owner_name = repo.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_name}/blob/main/{notebook}"


def readme_badge(repo: str, notebook: str) -> str:
    return f" [![Open In Colab]({BADGE_SVG})]({badge_url(repo, notebook)})"


def notebook_badge(repo: str, notebook: str) -> str:
    return (f'<a href="{badge_url(repo, notebook)}" target="_parent"><img src="{BADGE_SVG}" '
            f'alt="Open In Colab"/></a>')


def setup_cell(repo: str) -> str:
    name = repo.rsplit("/", 1)[-1]
    if not published(repo):
        return NO_CLONE_CELL.format(name=name)
    return SETUP_CELL.format(url=repo, name=name)


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").rglob("*.ipynb"))


def rewritten_readme(text: str, repo: str) -> str:
    """Each table row's notebook link followed by its badge, or by nothing while unpublished."""
    def row(line: str) -> str:
        if not line.startswith("|"):
            return line
        return README_LINK.sub(
            lambda m: m.group(1) + (readme_badge(repo, m.group(2)) if published(repo) else ""), line)

    return "".join(row(line) for line in text.splitlines(keepends=True))


def rewritten_title_cell(source: str, repo: str, notebook: str) -> str:
    """The first cell: its title line, the badge (if published) and a blank line, the rest."""
    source = NOTEBOOK_BADGE.sub("", source)
    if not published(repo) or not source.startswith("# "):
        return source
    title, _, rest = source.partition("\n")
    return f"{title}\n\n{notebook_badge(repo, notebook)}\n{rest}"


def rewritten_notebook(nb: dict, repo: str, notebook: str) -> dict:
    """`notebook` is its path from the repository root (notebooks/...): what the badge opens."""
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith(SETUP_MARKER):
            source = setup_cell(repo)
        elif i == 0 and cell["cell_type"] == "markdown":
            source = rewritten_title_cell(source, repo, notebook)
        cell["source"] = source.splitlines(keepends=True)
    return nb


def targets(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *notebooks(root)]


def _new_text(path: Path, repo: str, root: Path) -> str | None:
    """What the tool would write to `path`, or None when it would leave the file as it is (a
    notebook is compared by its cells, so nothing but a badge or a setup cell is ever rewritten)."""
    text = path.read_text()
    if path.suffix == ".md":
        new = rewritten_readme(text, repo)
        return new if new != text else None
    nb = json.loads(text)
    before = json.dumps(nb["cells"])
    nb = rewritten_notebook(nb, repo, path.relative_to(root).as_posix())
    if json.dumps(nb["cells"]) == before:
        return None
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def disagreements(repo: str | None = None, root: Path = ROOT,
                  paths: list[Path] | None = None) -> list[str]:
    """Every file (of `paths`, default all) whose badges or setup cell differ from what
    `repository` says."""
    repo = repo or repository(root)
    return [path.relative_to(root).as_posix() for path in (paths or targets(root))
            if _new_text(path, repo, root) is not None]


def rewrite(repo: str | None = None, root: Path = ROOT, paths: list[Path] | None = None) -> list[str]:
    """Write the badges and setup cells into `paths` (default: the README and every notebook);
    only files that change are written. Returns their names."""
    repo = repo or repository(root)
    changed = []
    for path in paths or targets(root):
        new = _new_text(path, repo, root)
        if new is not None:
            path.write_text(new)
            changed.append(path.relative_to(root).as_posix())
    return changed


def main(argv: list[str], root: Path = ROOT) -> int:
    check = "--check" in argv
    names = [a for a in argv if a != "--check"]
    paths = [root / n for n in names] or None
    repo = repository(root)
    state = repo if published(repo) else f"{repo} (a placeholder: no badges, no clone)"
    if check:
        wrong = disagreements(repo, root, paths)
        for path in wrong:
            print(f"{path}: badge or setup cell does not match {state}; run: python tools/colab.py")
        return 1 if wrong else 0
    print("rewrote:", ", ".join(rewrite(repo, root, paths)) or f"nothing (all agree with {state})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
