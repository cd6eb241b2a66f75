"""Crash points for the crash-consistency tests.

A stage calls ``crash_point(name)`` where a crash would leave one commit made and the next not yet. When the
environment's ``ALTAVIZ_CRASH_AT`` names that point, the process dies there at once (SIGKILL: no ``finally``,
no cleanup), as a killed kernel or a lost machine would; otherwise the call does nothing.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("ALTAVIZ_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
