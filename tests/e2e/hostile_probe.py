"""A hostile program for test_sandbox: run as a session's command, it waits for /tmp/go-N,
then tries each escape from the session (issue 12) and writes what happened to
/tmp/results-N.json as {probe: outcome}. Outcomes are errno names or short words that are the
same every time for the same sandbox, so a revived copy can be compared with the original.

    hostile_probe.py STORE_DIR LOOP_DEVICE MEMORY_LIMIT_MB PTRACE_MARKER
"""

import ctypes
import errno
import json
import os
import signal
import socket
import stat
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
MS_REMOUNT, MS_BIND = 32, 4096
PTRACE_ATTACH, PTRACE_DETACH = 16, 17

STORE, LOOP, MEMORY_MB, MARKER = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def check(rc):
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def outcome(probe):
    try:
        result = probe()
        return "succeeded" if result is None else result
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    except LookupError as e:
        return str(e)


def read(path):
    with open(path, "rb") as f:
        return f"read {len(f.read())} bytes"


def write(path, data):
    with open(path, "w") as f:
        f.write(data)


def listing(path):
    return "entries: " + ",".join(sorted(os.listdir(path)))


def open_each(paths):
    """One outcome for a list of paths: the set of their outcomes."""
    return "|".join(sorted({outcome(lambda p=p: os.close(os.open(p, os.O_RDONLY)))
                            for p in paths}))


def host_block_devices():
    return open_each(["/dev/" + name for name in os.listdir("/sys/block")])


def mknod_block():
    with open("/sys/block/" + os.path.basename(LOOP) + "/dev") as f:
        major, minor = map(int, f.read().split(":"))
    os.mknod("/tmp/hostile-blk", 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    os.unlink("/tmp/hostile-blk")


def mount_cgroup2():
    os.makedirs("/tmp/hostile-cg", exist_ok=True)
    check(libc.mount(b"none", b"/tmp/hostile-cg", b"cgroup2", 0, None))


def open_by_handle():
    class FileHandle(ctypes.Structure):
        _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                    ("f_handle", ctypes.c_ubyte * 128)]
    h = FileHandle(128, 0)
    mount_id = ctypes.c_int()
    check(libc.name_to_handle_at(-100, b"/etc/hostname", ctypes.byref(h),
                                 ctypes.byref(mount_id), 0))
    root = os.open("/", os.O_RDONLY)
    try:
        fd = libc.open_by_handle_at(root, ctypes.byref(h), os.O_RDONLY)
        check(fd)
        os.close(fd)
    finally:
        os.close(root)


def exec_helper():
    """The PID of the test's `deja exec SESSION -- sleep MARKER`, whose stdio is the host's."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                # Exactly the helper's command (PID 1's argv holds the marker too).
                if f.read().split(b"\0")[:2] == [b"sleep", MARKER.encode()]:
                    return int(pid)
        except OSError:
            continue
    raise LookupError("no deja exec helper found")


def ptrace_exec_helper():
    pid = exec_helper()
    check(libc.ptrace(PTRACE_ATTACH, pid, None, None))
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    return "attached"


def tiocsti_through_exec_helper():
    """Takes the helper's stdin (the user's terminal when run from one) and pushes a key."""
    fd = os.open(f"/proc/{exec_helper()}/fd/0", os.O_RDWR | os.O_NOCTTY)
    try:
        check(libc.ioctl(fd, 0x5412, ctypes.c_char_p(b"x")))  # TIOCSTI
        return "pushed a key"
    finally:
        os.close(fd)


CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUSER = 0x20000, 0x02000000, 0x10000000
MS_REC, MS_PRIVATE = 16384, 1 << 18


def try_write(path, value):
    try:
        write(path, value)
        return True
    except OSError:
        return False


def in_cgroup_namespace(trees, writes):
    """In a user, mount and cgroup namespace of its own a program may mount its cgroup trees
    (cgroup2 and v1 both allow it): they show the session's own groups. Mounts each of
    `trees` ("cgroup2" or a v1 controller) at /tmp/hostile-TREE, then writes each
    (file, value) of `writes` there, from inside and through /proc/PID/root from outside.
    Returns what was written."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        written = 0
        try:
            check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP))
            try_write("/proc/self/setgroups", "deny")
            try_write("/proc/self/uid_map", "0 0 1")
            check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None))
            for tree in trees:
                where = f"/tmp/hostile-{tree}"
                os.makedirs(where, exist_ok=True)
                fstype, data = ((b"cgroup2", None) if tree == "cgroup2"
                                else (b"cgroup", tree.encode()))
                if libc.mount(b"none", where.encode(), fstype, 0, data) != 0:
                    continue
                written += sum(try_write(f"{where}/{f}", v) for f, v in writes)
        except OSError:
            pass
        os.write(ready_w, b"x")
        os.read(done_r, 1)
        os._exit(min(written, 100))
    os.read(ready_r, 1)
    outside = 0
    for tree in trees:
        for f, v in writes:
            path = f"/proc/{pid}/root/tmp/hostile-{tree}/{f}"
            outside += os.path.exists(path) and try_write(path, v)
    os.write(done_w, b"x")
    _, status = os.waitpid(pid, 0)
    for fd in (ready_r, ready_w, done_r, done_w):
        os.close(fd)
    return os.WEXITSTATUS(status) + outside


def raise_own_task_limit():
    """Sets every pids.max it can reach to max, then forks until it cannot."""
    in_cgroup_namespace(["pids", "cgroup2"], [("pids.max", "max")])
    return "fork bomb after: " + in_child(fork_bomb)


def write_own_cgroup2_group():
    """cgroup.max.descendants: harmless to write, but in the same folder as cgroup.freeze,
    cgroup.kill and (on a cgroup v2 host) memory.max."""
    n = in_cgroup_namespace(["cgroup2"], [("cgroup.max.descendants", "7")])
    return f"wrote {n}" if n else "refused"


def in_child(body):
    """Runs body() in a child; its outcome is how the child ended."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(body())
        except BaseException:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.WEXITSTATUS(status)}"


def fork_bomb():
    children = []
    code = 1  # 1: no limit was met
    for _ in range(100000):
        try:
            pid = os.fork()
        except BlockingIOError:
            code = 0  # EAGAIN: the session's task limit
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return code


def memory_hog():
    chunks = []
    for _ in range(4 * MEMORY_MB // 16):
        chunks.append(b"\x01" * (16 << 20))
    return 0  # allocated four times the limit: not limited


def network():
    with socket.create_connection(("192.0.2.1", 9), timeout=2):
        return "connected"


def capabilities():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return f"CapEff {fields['CapEff'].strip()} NoNewPrivs {fields['NoNewPrivs'].strip()}"


PROBES = {
    "read /etc/shadow": lambda: read("/etc/shadow"),
    "read /etc/gshadow": lambda: read("/etc/gshadow"),
    "list /root": lambda: listing("/root"),
    "list /var/lib": lambda: listing("/var/lib"),
    "list the store": lambda: listing(STORE),
    "open host block devices": host_block_devices,
    "open the store's loop device": lambda: open_each([LOOP]),
    "mknod the store's loop device": mknod_block,
    "open host consoles": lambda: open_each(["/dev/console", "/dev/tty0", "/dev/tty1",
                                             "/dev/ttyS0", "/dev/input/event0", "/dev/mem"]),
    "remount / read-write": lambda: check(libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND,
                                                      None)),
    "create a file in /usr": lambda: write("/usr/deja-hostile-probe", "x"),
    "mount cgroup2": mount_cgroup2,
    "write core_pattern": lambda: write("/proc/sys/kernel/core_pattern", "|/tmp/evil"),
    "open sysrq-trigger": lambda: open("/proc/sysrq-trigger", "w").close(),
    "read /proc/kcore": lambda: read("/proc/kcore"),
    "open_by_handle_at": open_by_handle,
    "ptrace a deja exec helper": ptrace_exec_helper,
    "TIOCSTI through a deja exec helper's stdin": tiocsti_through_exec_helper,
    "reach the network": network,
    "raise the task limit through a user namespace": raise_own_task_limit,
    "write the session's cgroup2 group through a user namespace": write_own_cgroup2_group,
    "fork bomb": lambda: in_child(fork_bomb),
    "allocate past the memory limit": lambda: in_child(memory_hog),
    "capabilities": capabilities,
}


def main():
    round_ = 1
    while True:
        go = f"/tmp/go-{round_}"
        if not os.path.exists(go):
            time.sleep(0.1)
            continue
        results = {}
        for name, probe in PROBES.items():
            write(f"/tmp/progress-{round_}", name)  # what a test that times out names
            results[name] = outcome(probe)
        with open(f"/tmp/results-{round_}.json.new", "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
        os.rename(f"/tmp/results-{round_}.json.new", f"/tmp/results-{round_}.json")
        round_ += 1


main()
