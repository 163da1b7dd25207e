"""Test-only: holds the boot of every worker but the first until the test releases it, so
a test can stop the service while a worker is still booting, on purpose.

tests/test_launchers.py puts this folder on PYTHONPATH, and Python imports
`sitecustomize` as it starts: in the server's main process, which then forks workers,
and in each worker a server spawns as a fresh interpreter. The first worker to boot
creates the file BOOT_HOLD_MARKER; every later one finds it there and waits until the
file BOOT_HOLD_RELEASE exists (a minute at most).
"""

import os
import sys
import time
from pathlib import Path

MARKER = os.environ.get("BOOT_HOLD_MARKER")


def hold_boot() -> None:
    try:
        os.close(os.open(str(MARKER), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        print(f"boot of {os.getpid()} held", file=sys.stderr, flush=True)
        release = Path(os.environ["BOOT_HOLD_RELEASE"])
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        print(f"boot of {os.getpid()} resumes", file=sys.stderr, flush=True)


if MARKER:
    os.register_at_fork(after_in_child=hold_boot)
    if "--multiprocessing-fork" in sys.argv:  # a spawned worker
        hold_boot()
