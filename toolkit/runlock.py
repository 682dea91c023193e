"""One run at a time per directory: an flock, through `filelock`, on a file beside it.

The OS drops an flock when its process dies, so a killed run leaves no stale lock behind: the
next run takes it at once. A side file (`<lock file>.json`) names the holder — pid, host, start
time, command — for the message a second run gets; it goes when the lock is released, and the
one a killed holder left is overwritten by the next holder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toolkit.atomic import write_text_atomically
from toolkit.errors import ToolkitError


@contextmanager
def exclusive(lock_file: Path, what: str, instead: str) -> Iterator[None]:
    """Hold `lock_file` for the block. Held by another process: fail at once (no waiting), in
    one line naming `what` is in use and by whom, and suggesting `instead`."""
    from filelock import FileLock, Timeout

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file), timeout=0)
    side = holder_file(lock_file)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ToolkitError(
            f"{what} is in use by {holder(side)}; wait for it to end or {instead}"
        ) from None
    try:
        write_text_atomically(side, json.dumps(holder_record()) + "\n")
        yield
    finally:
        side.unlink(missing_ok=True)
        lock.release()


def holder_file(lock_file: Path) -> Path:
    return lock_file.with_name(f"{lock_file.name}.json")


def holder_record() -> dict[str, str | int]:
    program = Path(sys.argv[0]).name
    program = "toolkit" if program == "__main__.py" else program  # `python -m toolkit`
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([program, *sys.argv[1:]])[:200],
    }


def holder(side: Path) -> str:
    """Who holds the lock, as its side file says ("another run" when it cannot tell)."""
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
        return (
            f"another run (pid {info['pid']} on {info['host']}, started {info['started']}: "
            f"{info['command']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"
