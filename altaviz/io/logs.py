"""Where child processes' stderr goes: a log file, not the notebook or terminal that started them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def stderr_to(log_path: Path):
    """Point this process's stderr (file descriptor 2) at ``log_path`` while processes are started.

    A child inherits descriptor 2 when it starts and keeps it, so a kernel or a JVM started inside this
    block writes its stderr to the log for its whole life; this process gets its own stderr back after.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tail(log_path: Path, lines: int = 20) -> str:
    """The last lines of a log, for an error message ('' when there is no log)."""
    if not log_path.is_file():
        return ""
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
