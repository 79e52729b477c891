"""Pool workers die with their parent: the initializer of ``ProcessExecutor``'s workers.

Why: a worker of a ``ProcessPoolExecutor`` whose parent is SIGKILLed waits on its task queue forever
(the pipe's other end is held open by its sibling workers), holding memory and a core. Two guards:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill the worker the moment the thread
  that started it dies (the pool starts workers from the thread that calls ``map``, which lives as long
  as the pool);
* everywhere: a daemon thread polls the parent's pid every ``POLL_S`` seconds and ends the worker
  when the parent is gone (reparented), which also covers a parent that died before the prctl call.

Kept in its own tiny module so that a spawned worker imports nothing heavy to run it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _parent_alive(parent: int, direct: bool) -> bool:
    if direct and os.getppid() != parent:  # reparented: the parent is gone
        return False
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _watch(parent: int, direct: bool) -> None:
    while _parent_alive(parent, direct):
        time.sleep(POLL_S)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this process when process ``parent`` dies (see the module docstring)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc / prctl: the watcher thread still guards
            pass
    direct = os.getppid() == parent  # False under forkserver (started by the server), or already orphaned
    if not _parent_alive(parent, direct):
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, direct), name="mass-lifeline", daemon=True).start()
