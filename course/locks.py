"""One writer per artefact: two runs on one runs folder never train or save the same file at once.

`writer_lock(path)` holds an exclusive `fcntl.flock` on the sibling file `<path>.lock` for as
long as its `with` block runs: checking the cache, training and saving one checkpoint (or one
data set) happen under it, and nothing longer (a notebook kernel left idle holds no lock, so it
never blocks another process). A process that has to wait says so in one line and waits.

Locks follow the recipe's graph: a stage takes its own lock, then its inputs take theirs, so
two processes always take locks in the same order (downstream first) and never wait on each
other in a cycle. Within one process the lock is reentrant (a stage asked for again while its
lock is held does not wait for itself).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:   # Windows: no flock; one writer per folder is then the user's to keep
    fcntl = None

_GUARD = threading.Lock()
_HELD: dict[str, list] = {}   # resolved path -> [threading.RLock, depth, fd or None]


def lock_path(path: str | Path) -> Path:
    """The file whose lock stands for `path`: `<path>.lock`, next to it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _key(path: Path) -> str:
    return os.path.realpath(lock_path(path))


@contextlib.contextmanager
def writer_lock(path: str | Path, announce: bool = True):
    """Hold the one-writer lock of the artefact at `path` (a file or a folder) for the block.

    If another process holds it, print one line naming the file and wait until it is free.
    Reentrant within a process. Where the lock cannot be taken at all (no fcntl, a folder that
    cannot hold the lock file, a file system without locks) the block runs unlocked."""
    path = Path(path)
    key = _key(path)
    with _GUARD:
        entry = _HELD.setdefault(key, [threading.RLock(), 0, None])
    entry[0].acquire()   # threads of one process: one at a time, reentrant
    try:
        if entry[1] == 0:
            entry[2] = _acquire(path, announce)
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
            if entry[1] == 0 and entry[2] is not None:
                fd, entry[2] = entry[2], None
                _release(fd)
    finally:
        entry[0].release()


def _acquire(path: Path, announce: bool) -> int | None:
    if fcntl is None:
        return None
    target = lock_path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return None   # cannot create the lock file (a read-only folder): nothing to write either
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if announce:
                print(f"{path.name}: another process is writing {path}; waiting for it to "
                      f"finish", flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException as err:
        os.close(fd)
        if isinstance(err, OSError) and not isinstance(err, BlockingIOError):
            return None   # a file system without flock: run unlocked rather than not at all
        raise
    return fd


def _release(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
