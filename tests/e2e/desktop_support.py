"""Helpers shared by the desktop and live-view tests."""

import datetime
import os

from harness import session_cgroup


def iso(unix_seconds):
    """ISO-8601 UTC with milliseconds, as `deja frame SESSION@T` takes it."""
    t = datetime.datetime.fromtimestamp(unix_seconds, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def session_programs(sid):
    """Names of the programs running in the session (from its cgroup, on the host)."""
    names = set()
    with open(os.path.join(session_cgroup(sid), "cgroup.procs")) as f:
        for pid in f.read().split():
            try:
                with open(f"/proc/{pid}/comm") as c:
                    names.add(c.read().strip())
            except FileNotFoundError:
                pass
    return names
