"""Measured times, recorded once and written everywhere from one place.

    python tools/times.py record NB.ipynb ...    # executed notebooks -> notebook_times.json
    python tools/times.py record-ci SECONDS       # a clean-clone .ci/run (install + pytest)
    python tools/times.py record-pytest SECONDS   # the pytest of such a run alone
    python tools/times.py record-speed [JSON]     # benchmarks/speed.py's runs/benchmarks/speed.json
    python tools/times.py write                   # benchmarks/README.md, README's and WORKSHOP's blocks
    python tools/times.py check                   # exit 1 if any of them is not what write writes

Every record goes to benchmarks/results/ (notebook_times.json, ci_times.json, speed.json) with
its date and machine. The machine is read from this computer (/proc/cpuinfo's model name and
AVX-512 flags, the core count, torch's version, cuda or cpu) unless --machine says where the
measurement was made ("AMD EPYC, AVX-512, 2 cores"; then --torch and --device default to
unknown and cpu). A new measurement replaces the one of the same thing on the same machine type
when it is newer; other machine types' rows are kept.

A notebook's time runs from its first cell's start to its last cell's reply: the
`iopub.execute_input` and `shell.execute_reply` timestamps nbclient (nbconvert --execute,
JupyterLab) writes into each code cell's metadata.execution. Its date is the first cell's
(UTC), unless --date is given. --note says what `runs/` held ("empty runs/: trains the base
model"), which decides most of a chapter notebook's time.

`write` rewrites benchmarks/README.md whole, and in README.md and WORKSHOP.md only what lies
between `<!-- times:begin -->` and `<!-- times:end -->`: in the README, the last cell of each
table row there that links a notebook (its minutes) and every line after that table; in
WORKSHOP.md the whole block. `check` also fails when a notebook under notebooks/ that was run
top to bottom is not the run recorded for it (re-executed, not re-recorded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import platform
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks") / "results"
NOTEBOOK_TIMES = "notebook_times.json"
CI_TIMES = "ci_times.json"
SPEED = "speed.json"
BEGIN, END = "<!-- times:begin -->", "<!-- times:end -->"
NOTEBOOK_LINK = re.compile(r"\]\(notebooks/(?:[\w-]+/)*([\w-]+)\.ipynb\)")
GAP_WARNING_S = 10.0   # idle time between two cells that a notebook's total would count
WIDTH = 100


# --- machines -------------------------------------------------------------------------------

def short_cpu(name: str) -> str:
    """'AMD EPYC 7B13 64-Core Processor' -> 'AMD EPYC 7B13'; 'Intel(R) Xeon(R) CPU @ 2.20GHz'
    -> 'Intel Xeon'."""
    name = re.sub(r"\((R|TM|tm)\)", "", name)
    name = re.sub(r"\s*@.*$", "", name)
    name = re.sub(r"\b(\d+-Core|CPU|Processor)\b", "", name)
    return " ".join(name.split()) or "unknown CPU"


def detect_machine(device: str | None = None, torch_version: str | None = None) -> dict:
    """This computer: CPU model, AVX-512, cores, torch's version, and cpu or cuda (cuda when
    $COURSE_DEVICE says so, or when torch sees a GPU and $COURSE_DEVICE does not say cpu)."""
    cpu, avx512 = platform.processor() or platform.machine() or "unknown CPU", None
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.M)
    if model:
        cpu = model.group(1)
    if flags:
        avx512 = any(flag.startswith("avx512") for flag in flags.group(1).split())
    gpu = None
    if torch_version is None:
        try:
            from importlib.metadata import version
            torch_version = version("torch")
        except Exception:
            torch_version = None
    if device is None:
        device = os.environ.get("COURSE_DEVICE") or None
    if device in (None, "cuda"):
        try:
            import torch
            if torch.cuda.is_available():
                device, gpu = "cuda", torch.cuda.get_device_name(0)
        except Exception:
            pass
    return {"cpu": short_cpu(cpu), "avx512": avx512, "cores": os.cpu_count(), "torch": torch_version,
            "device": device or "cpu", "gpu": gpu}


def parse_machine(label: str, device: str | None = None, torch_version: str | None = None) -> dict:
    """A machine given in words, as `label` writes it: "AMD EPYC, AVX-512, 2 cores"."""
    cpu, avx512, cores = [], None, None
    for part in (p.strip() for p in label.split(",")):
        if re.fullmatch(r"\d+ cores?", part):
            cores = int(part.split()[0])
        elif part.lower() == "avx-512":
            avx512 = True
        elif part.lower() == "no avx-512":
            avx512 = False
        elif part:
            cpu.append(part)
    return {"cpu": ", ".join(cpu) or "unknown CPU", "avx512": avx512, "cores": cores,
            "torch": torch_version, "device": device or "cpu", "gpu": None}


def machine_label(m: dict) -> str:
    """'AMD EPYC, AVX-512, 2 cores' (and ', cuda: <GPU>' on a GPU)."""
    parts = [m.get("cpu") or "unknown CPU"]
    if m.get("avx512") is not None:
        parts.append("AVX-512" if m["avx512"] else "no AVX-512")
    if m.get("cores"):
        parts.append(f"{m['cores']} cores")
    if m.get("device", "cpu") != "cpu":
        parts.append(f"{m['device']}: {m['gpu']}" if m.get("gpu") else m["device"])
    return ", ".join(parts)


def machine_type(m: dict) -> tuple:
    """What makes two machines the same type (torch's version does not)."""
    return (m.get("cpu"), m.get("avx512"), m.get("cores"), m.get("device", "cpu"), m.get("gpu"))


def torch_text(m: dict) -> str:
    return f"torch {m['torch']}" if m.get("torch") else "torch not recorded"


# --- notebooks ------------------------------------------------------------------------------

def _time(stamp: str) -> dt.datetime:
    """An ISO timestamp as nbclient writes it ('2026-12-04T19:33:42.619708Z'), on Python 3.10."""
    stamp = stamp.replace("Z", "+00:00")
    stamp = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], stamp)
    t = dt.datetime.fromisoformat(stamp)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def notebook_timing(path: Path, warn: bool = True) -> dict:
    """Total seconds, the longest cell (index, seconds, the heading it sits under) and the start
    of one top-to-bottom run of `path`. ValueError when not every code cell carries its
    timestamps (a notebook edited, or run only in part) or when the cells ran out of order."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells, heading, missing = [], None, 0
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            for line in source.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
            continue
        if cell["cell_type"] != "code" or not source.strip():
            continue
        ex = cell.get("metadata", {}).get("execution", {})
        start = ex.get("iopub.execute_input") or ex.get("iopub.status.busy")
        reply = ex.get("shell.execute_reply")
        if not (start and reply):
            missing += 1
            continue
        cells.append((i, _time(start), _time(reply), heading))
    if missing or not cells:
        raise ValueError(f"{path}: {missing} of {missing + len(cells)} code cells have no execution "
                         f"timestamps: execute the whole notebook (e.g. jupyter nbconvert --execute "
                         f"--inplace) before recording it")
    for (i, _, reply, _), (j, start, _, _) in zip(cells, cells[1:]):
        if start < reply:
            raise ValueError(f"{path}: cell {j} started before cell {i} replied: not one "
                             f"top-to-bottom run")
        if warn and (start - reply).total_seconds() > GAP_WARNING_S:
            print(f"warning: {path}: {(start - reply).total_seconds():.0f} s idle before cell {j} "
                  f"are counted in its total", file=sys.stderr)
    longest = max(cells, key=lambda c: c[2] - c[1])
    return {
        "seconds": round((cells[-1][2] - cells[0][1]).total_seconds(), 1),
        "longest_cell": {"index": longest[0], "seconds": round((longest[2] - longest[1]).total_seconds(), 1),
                         "section": longest[3]},
        "code_cells": len(cells),
        "started": cells[0][1].astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
    }


def notebook_paths(root: Path) -> dict[str, Path]:
    """Every notebook of the course by name (names are unique across notebooks/ and solutions/)."""
    return {p.stem: p for p in sorted((root / "notebooks").rglob("*.ipynb"))
            if ".ipynb_checkpoints" not in p.parts}


def notebook_order(name: str) -> tuple:
    """Chapter notebooks first, then exercises, then solutions, each by chapter."""
    kind = 2 if name.endswith("_solutions") else 1 if name.endswith("_exercises") else 0
    return (kind, name)


# --- results files --------------------------------------------------------------------------

def load(root: Path, name: str, key: str) -> list[dict]:
    path = root / RESULTS / name
    return json.loads(path.read_text())[key] if path.exists() else []


def save(root: Path, name: str, key: str, rows: list[dict], about: str) -> None:
    path = root / RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"about": about, key: rows}, indent=1, ensure_ascii=False) + "\n")


def merge(rows: list[dict], new: dict, same: str, when: str) -> tuple[list[dict], str]:
    """`new` replaces the row of the same `same` on the same machine type unless that row is
    newer (by `when`); rows of other machine types stay."""
    kept, old = [], None
    for row in rows:
        if row[same] == new[same] and machine_type(row["machine"]) == machine_type(new["machine"]):
            old = row
        else:
            kept.append(row)
    if old is not None and old[when] > new[when]:
        return rows, f"kept the newer {old[same]} row ({old[when]}) of {machine_label(old['machine'])}"
    return kept + [new], f"{'replaced' if old else 'added'}: {new[same]}, {machine_label(new['machine'])}"


NOTEBOOK_ABOUT = ("written by tools/times.py record: one top-to-bottom run of each notebook per "
                  "machine type, the newest")
CI_ABOUT = ("written by tools/times.py record-ci / record-pytest: clean-clone runs, the newest per "
            "machine type")


def record_notebooks(root: Path, paths: list[Path], machine: dict, date: str | None = None,
                     note: str | None = None) -> list[str]:
    rows, said = load(root, NOTEBOOK_TIMES, "notebooks"), []
    for path in paths:
        timing = notebook_timing(path)
        new = {"notebook": Path(path).stem, **timing, "date": date or timing["started"][:10],
               "machine": machine, "note": note}
        rows, message = merge(rows, new, "notebook", "started")
        said.append(f"{message}: {timing['seconds']:.0f} s")
    rows.sort(key=lambda r: (notebook_order(r["notebook"]), r["started"]))
    save(root, NOTEBOOK_TIMES, "notebooks", rows, NOTEBOOK_ABOUT)
    return said


def record_run(root: Path, what: str, seconds: float, machine: dict, date: str | None = None,
               note: str | None = None) -> str:
    rows = load(root, CI_TIMES, "runs")
    new = {"what": what, "seconds": round(float(seconds), 1), "date": date or today(),
           "machine": machine, "note": note}
    rows, message = merge(rows, new, "what", "date")
    rows.sort(key=lambda r: (r["what"], r["date"]))
    save(root, CI_TIMES, "runs", rows, CI_ABOUT)
    return message


def record_speed(root: Path, source: Path, machine: dict, date: str | None = None) -> str:
    data = json.loads(Path(source).read_text())
    data.update(date=date or today(), machine=machine)
    path = root / RESULTS / SPEED
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return f"wrote {path.relative_to(root)}"


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


# --- what `write` writes --------------------------------------------------------------------

def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def minutes(seconds: float) -> str:
    return "<0.1" if seconds < 3 else f"{seconds / 60:.1f}"


def number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


def newest_by_notebook(root: Path) -> dict[str, dict]:
    """The newest run of each notebook, whatever the machine: the one its outputs come from."""
    newest = {}
    for row in load(root, NOTEBOOK_TIMES, "notebooks"):
        if row["notebook"] not in newest or row["started"] > newest[row["notebook"]]["started"]:
            newest[row["notebook"]] = row
    return newest


def longest_text(row: dict) -> str:
    cell = row["longest_cell"]
    section = f", under '{cell['section']}'" if cell.get("section") else ""
    return f"cell {cell['index']}: {duration(cell['seconds'])}{section}"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1].rstrip(" ,:;(") + "…"


def wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False, break_long_words=False)


def committed_outputs(root: Path) -> list[str]:
    """Where the committed notebooks' outputs come from: their newest recorded runs, grouped by
    machine and torch; the largest group first, the others naming their notebooks."""
    names = notebook_paths(root)
    newest = [row for name, row in newest_by_notebook(root).items() if name in names]
    if not newest:
        return ["committed outputs: not recorded yet (python tools/times.py record NB...)"]
    groups: dict[tuple, list[dict]] = {}
    for row in newest:
        groups.setdefault((machine_label(row["machine"]), torch_text(row["machine"])), []).append(row)
    parts = []
    for (label, torch), rows in sorted(groups.items(), key=lambda g: -len(g[1])):
        dates = sorted({r["date"] for r in rows})
        when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
        which = "" if len(groups) == 1 else f" ({len(rows)} of the {len(newest)} notebooks)"
        parts.append(f"{label}, {when}, {torch}{which}")
    return wrap("committed outputs: " + "; ".join(parts) + ".")


def readme_block(root: Path, old: str) -> str:
    """The README's block: its leading table as written, each notebook row's last cell set to
    that notebook's minutes, then the lines this tool owns."""
    newest = newest_by_notebook(root)
    lines = old.strip("\n").splitlines()
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        match = NOTEBOOK_LINK.search(line)
        if match:
            row = newest.get(match.group(1))
            cell = minutes(row["seconds"]) if row else "not measured"
            line = line.rstrip().removesuffix("|").rsplit("|", 1)[0] + f"| {cell} |"
        table.append(line)
    tail = wrap("Minutes: each notebook's recorded run, the one its committed outputs come from; what "
                "`runs/` held, the longest cell and all measured times: "
                "[benchmarks/README.md](benchmarks/README.md).") + [""] + committed_outputs(root)
    return "\n".join(table + [""] + tail)


def workshop_block(root: Path) -> str:
    newest = newest_by_notebook(root)
    names = sorted((n for n in notebook_paths(root) if n in newest), key=notebook_order)
    lines = ["| notebook | minutes | longest cell | what `runs/` held |", "|---|---|---|---|"]
    for name in names:
        row = newest[name]
        cell = row["longest_cell"]
        section = f": {shorten(cell['section'], 34)}" if cell.get("section") else ""
        lines.append(f"| `{name}` | {minutes(row['seconds'])} | {minutes(cell['seconds'])}{section} | "
                     f"{row.get('note') or 'not recorded'} |")
    missing = sorted((n for n in notebook_paths(root) if n not in newest), key=notebook_order)
    chapters = [newest[n] for n in names if notebook_order(n)[0] == 0]
    lines.append("")
    text = ""
    if chapters:
        text = (f"The {len(chapters)} chapter notebooks: {sum(r['seconds'] for r in chapters) / 60:.0f} min "
                f"in all, as recorded here. ")
    if missing:
        text += "Not measured: " + ", ".join(f"`{n}`" for n in missing) + ". "
    lines += wrap(text + "Minutes and the longest cell's minutes, one run each; "
                  "[benchmarks/README.md](benchmarks/README.md) has the seconds.")
    lines += [""] + committed_outputs(root)
    return "\n".join(lines)


def speed_rows(data: dict) -> list[tuple[str, str]]:
    """benchmarks/speed.py's numbers, whatever it measures: medians with their interquartile
    range, plain numbers, and dicts of numbers."""
    rows = []

    def summary(s: dict) -> str:
        return f"median {number(s['median'])} (IQR {number(s['q1'])}-{number(s['q3'])}, n={s.get('n', '?')})"

    for key, value in data.items():
        if key in ("date", "machine", "preset", "reps", "threads"):
            continue
        label = "speed.py: " + key.replace("_", " ")
        if isinstance(value, dict) and "median" in value:
            rows.append((label, summary(value)))
        elif isinstance(value, dict) and all(isinstance(v, dict) and "median" in v for v in value.values()):
            rows += [(f"{label}, {k}", summary(v)) for k, v in value.items()]
        elif isinstance(value, dict):
            rows.append((label, ", ".join(f"{k} {number(v)}" for k, v in value.items()
                                          if isinstance(v, (int, float)))))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((label, number(value)))
    return rows


def benchmarks_readme(root: Path) -> str:
    head = """# Measured times

Generated by `python tools/times.py write` from the JSON files in [results/](results/); edit
those through the tool, not this page (`python tools/times.py check`, run by the tests, fails
when this page or the times blocks of the README and WORKSHOP.md disagree with them).

```bash
python tools/times.py record notebooks/01_what_is_reasoning.ipynb --note "empty runs/"  # executed notebooks
python tools/times.py record-ci SECONDS       # a clean-clone .ci/run, the install included
python tools/times.py record-pytest SECONDS   # that run's pytest alone
python tools/times.py record-speed            # after python benchmarks/speed.py
python tools/times.py write
```

A notebook's time runs from its first cell's start to its last cell's reply (the timestamps
nbclient writes into the notebook); what `runs/` held decides most of a chapter notebook's
time, since a chapter trains only what is missing. One row per measured thing and machine
type, the newest; measurements on other machine types stay as rows of their own.
"""
    table = ["| what | time | longest cell | note (notebooks: what `runs/` held) | machine | torch | date |",
             "|---|---|---|---|---|---|---|"]

    def row(what, value, longest, note, machine, date):
        cells = [what, value, longest, note or "", machine_label(machine) if isinstance(machine, dict)
                 else str(machine or ""), torch_text(machine) if isinstance(machine, dict) else "", date]
        table.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")

    newest_first = sorted(load(root, NOTEBOOK_TIMES, "notebooks"), key=lambda r: r["started"], reverse=True)
    for r in sorted(newest_first, key=lambda r: notebook_order(r["notebook"])):
        row(f"`{r['notebook']}`", duration(r["seconds"]), longest_text(r), r.get("note"), r["machine"],
            r["date"])
    names = {"pytest": "`pytest` from a clean clone, after the install",
             "ci": "`.ci/run` from a clean clone (fresh venv, install, pytest)"}
    for r in sorted(load(root, CI_TIMES, "runs"), key=lambda r: (r["what"] != "pytest", r["date"])):
        row(names.get(r["what"], r["what"]), duration(r["seconds"]), "", r.get("note"), r["machine"],
            r["date"])
    skipped = []
    for path in sorted((root / RESULTS).glob("*.json")):
        if path.name in (NOTEBOOK_TIMES, CI_TIMES):
            continue
        data = json.loads(path.read_text())
        if path.name == SPEED:
            for what, value in speed_rows(data):
                row(what, value, "", "", data.get("machine"), data.get("date", "not recorded"))
        elif isinstance(data, dict) and isinstance(data.get("rows"), list):
            for r in data["rows"]:   # any other result written as rows of {what, value, ...}
                row(str(r.get("what", "")), str(r.get("value", "")), "", r.get("note"), r.get("machine"),
                    str(r.get("date", "not recorded")))
        else:
            skipped.append(path.name)
    tail = ""
    if skipped:
        tail = "\nNot summarised here (no `rows` list): " + ", ".join(f"`{s}`" for s in skipped) + ".\n"
    return head + "\n" + "\n".join(table) + "\n" + tail


def replace_block(text: str, block: str, name: str) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{name}: needs one {BEGIN} ... {END} block")
    before, rest = text.split(BEGIN)
    _, after = rest.split(END)
    return f"{before}{BEGIN}\n{block}\n{END}{after}"


def block_of(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0] if BEGIN in text and END in text else ""


def generated(root: Path) -> dict[str, str]:
    """Every file `write` writes, with what it writes there."""
    readme = (root / "README.md").read_text()
    workshop = (root / "WORKSHOP.md").read_text()
    return {
        "benchmarks/README.md": benchmarks_readme(root),
        "README.md": replace_block(readme, readme_block(root, block_of(readme)), "README.md"),
        "WORKSHOP.md": replace_block(workshop, workshop_block(root), "WORKSHOP.md"),
    }


def write(root: Path = ROOT) -> list[str]:
    changed = []
    for name, text in generated(root).items():
        path = root / name
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(name)
    return changed


def stale_notebooks(root: Path) -> list[str]:
    """Notebooks run top to bottom whose run is not the newest one recorded for them."""
    newest, problems = newest_by_notebook(root), []
    for name, path in notebook_paths(root).items():
        try:
            started = notebook_timing(path, warn=False)["started"]
        except ValueError:
            continue   # not one whole run (being edited): nothing to compare
        if name not in newest:
            problems.append(f"{path.relative_to(root)}: executed but not recorded")
        elif newest[name]["started"] != started:
            problems.append(f"{path.relative_to(root)}: its run started {started}, the newest recorded "
                            f"one {newest[name]['started']}")
    return problems


def check(root: Path = ROOT) -> list[str]:
    problems = []
    for name, text in generated(root).items():
        path = root / name
        old = path.read_text() if path.exists() else ""
        if old != text:
            diff = list(difflib.unified_diff(old.splitlines(), text.splitlines(), name, "written", n=0,
                                             lineterm=""))
            problems.append(f"{name}: not what `write` writes\n" + "\n".join(diff[2:12]))
    return problems + stale_notebooks(root)


# --- command line ---------------------------------------------------------------------------

def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="tools/times.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def machine_flags(p):
        p.add_argument("--machine", help='where it was measured, e.g. "AMD EPYC, AVX-512, 2 cores" '
                                         "(default: this computer)")
        p.add_argument("--torch", help="torch's version there (default: this one, or unknown with --machine)")
        p.add_argument("--device", choices=["cpu", "cuda", "mps"], help="what the course ran on")
        p.add_argument("--date", type=lambda s: dt.date.fromisoformat(s).isoformat(), help="YYYY-MM-DD")

    p = commands.add_parser("record", help="record executed notebooks")
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--note", help='what runs/ held, e.g. "empty runs/: trains the base model"')
    machine_flags(p)
    for what in ("ci", "pytest"):
        p = commands.add_parser(f"record-{what}", help=f"record a clean-clone {what} time")
        p.add_argument("seconds", type=float)
        p.add_argument("--note", help='e.g. "994 passed, 2 skipped"')
        machine_flags(p)
    p = commands.add_parser("record-speed", help="record benchmarks/speed.py's results")
    p.add_argument("source", nargs="?", type=Path, default=root / "runs" / "benchmarks" / SPEED)
    machine_flags(p)
    commands.add_parser("write", help="write benchmarks/README.md and the README's and WORKSHOP's blocks")
    commands.add_parser("check", help="exit 1 if a generated file differs from what write writes")
    args = parser.parse_args(argv)

    if args.command == "write":
        print("wrote:", ", ".join(write(root)) or "nothing (all up to date)")
        return 0
    if args.command == "check":
        problems = check(root)
        for problem in problems:
            print(problem)
        if problems:
            print("run: python tools/times.py record NB... (for re-executed notebooks), then "
                  "python tools/times.py write")
        return 1 if problems else 0

    if args.machine:
        machine = parse_machine(args.machine, args.device, args.torch)
    else:
        machine = detect_machine(args.device, args.torch)
    try:
        if args.command == "record":
            said = record_notebooks(root, args.notebooks, machine, args.date, args.note)
        elif args.command == "record-speed":
            said = [record_speed(root, args.source, machine, args.date)]
        else:
            said = [record_run(root, args.command.removeprefix("record-"), args.seconds, machine,
                               args.date, args.note)]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(said))
    print("now run: python tools/times.py write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
