"""Test-only: holds the boot of every worker but the first for BOOT_DELAY_SECONDS, so a
test can stop the service while a worker is still booting, on purpose.

tests/test_launchers.py puts this folder on PYTHONPATH, and Python imports
`sitecustomize` as it starts: in the server's main process, which then forks workers
(Gunicorn), and in each worker it spawns (Granian). The first worker to boot creates the
file BOOT_DELAY_MARKER; every later one finds it there and waits.
"""

import os
import sys
import time

DELAY = float(os.environ.get("BOOT_DELAY_SECONDS", "0"))


def hold_boot() -> None:
    try:
        os.close(os.open(os.environ["BOOT_DELAY_MARKER"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        print(f"boot of {os.getpid()} held for {DELAY} s", file=sys.stderr, flush=True)
        time.sleep(DELAY)
        print(f"boot of {os.getpid()} resumes", file=sys.stderr, flush=True)


if DELAY:
    os.register_at_fork(after_in_child=hold_boot)
    if "--multiprocessing-fork" in sys.argv:  # a spawned worker
        hold_boot()
