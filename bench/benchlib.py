"""What the benchmarks share: a temporary store that is always taken down, and percentiles."""

import contextlib
import os
import shutil
import subprocess
import tempfile


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


@contextlib.contextmanager
def temporary_store(deja, size="4G"):
    """Yields run(*args) -> stdout for deja on a new store, and a list to which the caller
    appends session ids; on exit those sessions are stopped and the store removed."""
    work = tempfile.mkdtemp(prefix="deja-bench-")
    store = os.path.join(work, "store")
    sessions = []

    def run(*args):
        return subprocess.run([deja, "--store", store, *args], check=True,
                              capture_output=True, text=True).stdout

    try:
        run("init", "--size", size)
        yield run, sessions, store
    finally:
        for sid in sessions:
            subprocess.run([deja, "--store", store, "stop", sid], capture_output=True)
        if os.path.ismount(os.path.join(store, "fs")):
            subprocess.run(["umount", os.path.join(store, "fs")], check=True)
        shutil.rmtree(work, ignore_errors=True)
