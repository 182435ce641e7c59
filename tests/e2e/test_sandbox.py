"""A session is a security boundary (issue 12): a hostile program recorded in a real session
tries the escapes in the issue; each fails, the host and the store are unchanged, another
session runs on, the recorder keeps checkpointing, and the same program revived as a branch
gets the same answers. Also: the limits' bad input, deja doctor's controllers, the control
channel's peer check and the cleanup of the limit groups."""

import hashlib
import json
import os
import pty
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import unittest

from harness import StoreTestCase, running, session_cgroup

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "hostile_probe.py")
MEMORY_MB = 128
PIDS_MAX = 64
MARKER = "47.25"  # the argument of a `deja exec ... sleep` the probe tries to ptrace

# What every escape must come to. The capabilities are Docker's default set less CAP_MKNOD
# (chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw
# sys_chroot audit_write setfcap) and net_admin, for the session's own network namespace.
EXPECTED = {
    "read /etc/shadow": "EACCES",
    "read /etc/gshadow": "EACCES",
    "list /root": "entries: ",
    "list /var/lib": "entries: dbus,xkb",
    "list the store": "ENOENT",  # the test's store is in the host's /tmp, not the session's
    "open host block devices": "ENOENT",
    "open the store's loop device": "ENOENT",
    "mknod the store's loop device": "EPERM",
    "open host consoles": "ENOENT",
    "remount / read-write": "EPERM",
    "create a file in /usr": "EROFS",
    "mount cgroup2": "EPERM",
    "write core_pattern": "EROFS",
    "open sysrq-trigger": "EROFS" if os.path.exists("/proc/sysrq-trigger") else "ENOENT",
    "read /proc/kcore": "EACCES" if os.path.exists("/proc/kcore") else "ENOENT",
    "open_by_handle_at": "EPERM",
    "ptrace a deja exec helper": "EPERM",
    "TIOCSTI through a deja exec helper's stdin": "EACCES",
    "reach the network": "ENETUNREACH",
    "fork bomb": "exit 0",
    "allocate past the memory limit": "SIGKILL",
    "raise the task limit through a user namespace": "fork bomb after: exit 0",
    "write the session's cgroup2 group through a user namespace": "refused",
    "capabilities": "CapEff 00000000a00435fb NoNewPrivs 1",
}


# Escapes not closed for a session recorded with --no-userns: each has its own disabled test
# below, with the reason.
OPEN_WITHOUT_USERNS = {"write the session's cgroup2 group through a user namespace"}


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def all_v1_session_groups():
    """Every deja/ID group in the cgroup v1 hierarchies."""
    found = []
    for controller in ("pids", "memory", "cpu"):
        for root, dirs, _ in os.walk(os.path.join("/sys/fs/cgroup", controller)):
            if root.endswith("/deja"):
                found += [os.path.join(root, d) for d in dirs]
    return sorted(found)


def procs_of(group):
    """The processes of a v2 group or, for a v1 session group, of its member group."""
    member = os.path.join(group, "session")
    try:
        with open(os.path.join(member if os.path.isdir(member) else group, "cgroup.procs")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def v1_groups(sid):
    """The session's groups in the cgroup v1 hierarchies (empty on a pure v2 host)."""
    found = []
    for controller in ("pids", "memory", "cpu"):
        for root, dirs, _ in os.walk(os.path.join("/sys/fs/cgroup", controller)):
            if root.endswith("/deja") and sid in dirs:
                found.append(os.path.join(root, sid))
    return found


class SandboxTest(StoreTestCase):
    def store_loop_device(self):
        return subprocess.run(["findmnt", "-n", "-o", "SOURCE", os.path.join(self.store, "fs")],
                              capture_output=True, text=True, check=True).stdout.strip()

    def kill_recorder(self, sid):
        db = sqlite3.connect(os.path.join(self.store, "catalog.db"))
        [recorder] = db.execute("SELECT supervisor_pid FROM sessions WHERE id = ?",
                                (sid,)).fetchone()
        db.close()
        os.kill(recorder, signal.SIGKILL)
        self.wait_for(lambda: not running(recorder), "the recorder to die")

    def record_limited(self, *command, extra=()):
        sid = self.deja("record", "--no-display", "--detach", "--interval", "0",
                        "--pids-max", str(PIDS_MAX), "--memory-max", f"{MEMORY_MB}M", *extra,
                        *self.record_flags, "--", *command).stdout.strip()
        self.sessions.append(sid)
        return sid

    def record_probe(self, *args):
        """Records the hostile probe with `args`, run from the session's own home: the folder
        the tests run from may be hidden in the session (a clone under /tmp is)."""
        sid = self.record_limited(
            "sh", "-c", 'while [ ! -e ~/hostile_probe.py ]; do sleep 0.05; done; '
                        'exec /usr/bin/python3 ~/hostile_probe.py "$@"', "sh", *args)
        home = os.path.join(self.store, "fs", "sessions", sid, "home")
        shutil.copy(PROBE, os.path.join(home, ".hostile_probe.py"))
        os.rename(os.path.join(home, ".hostile_probe.py"), os.path.join(home, "hostile_probe.py"))
        return sid

    def probe_round(self, sid, n):
        """Runs round n of the probes in session `sid` while a deja exec helper runs there."""
        # Its stdin is a terminal of the host, as when a user runs deja exec from one.
        terminal, user_side = pty.openpty()
        helper = subprocess.Popen([os.environ.get("DEJA_BIN", "deja"), "--store", self.store,
                                   "exec", sid, "--", "sleep", MARKER], stdin=user_side)
        try:
            self.wait_for(lambda: self.deja("exec", sid, "--", "pgrep", "-f", "sleep " + MARKER,
                                            check=False).returncode == 0, "the exec helper",
                          timeout=60)
            self.deja("exec", sid, "--", "touch", f"/tmp/go-{n}")
            results = f"/tmp/results-{n}.json"
            try:
                self.wait_for(lambda: self.deja("exec", sid, "--", "test", "-e", results,
                                                check=False).returncode == 0,
                              f"probe round {n}", timeout=300)
            except AssertionError:
                at = self.deja("exec", sid, "--", "cat", f"/tmp/progress-{n}", check=False)
                ps = self.deja("exec", sid, "--", "ps", "-e", "-o", "pid,stat,wchan,cmd",
                               check=False)
                self.fail(f"probe round {n} did not finish; at: {at.stdout}{at.stderr}\n"
                          f"{ps.stdout}")
            return json.loads(self.deja("exec", sid, "--", "cat", results).stdout)
        finally:
            helper.kill()
            helper.wait()
            os.close(terminal)
            os.close(user_side)

    def test_hostile_program_escapes_nothing_and_its_branch_neither(self):
        self.escape_rounds(open_escapes=set())

    def test_without_userns_hostile_program_escapes_nothing_else(self):
        """The same in a session recorded with --no-userns: its root is the host's, confined."""
        self.record_flags = ("--no-userns",)
        self.escape_rounds(open_escapes=OPEN_WITHOUT_USERNS)

    def escape_rounds(self, open_escapes):
        """The hostile probe in a session and then in its branch: every escape but
        `open_escapes` gives its EXPECTED answer, and the branch gives the same answers."""
        self.init()
        loop = self.store_loop_device()
        host_before = {p: digest(p) for p in ("/etc/shadow", "/proc/sys/kernel/core_pattern")}
        bystander = self.record("sleep", "1000")
        sid = self.record_probe(self.store, loop, str(MEMORY_MB), MARKER)
        first = self.deja("checkpoint", sid).stdout.strip()

        results = self.probe_round(sid, 1)
        for probe, expected in EXPECTED.items():
            if probe in open_escapes:
                continue
            with self.subTest(probe=probe):
                self.assertEqual(results.get(probe), expected)

        # The host and the store are unchanged; the other session and the recorder go on.
        self.assertEqual({p: digest(p) for p in host_before}, host_before)
        self.assertFalse(os.path.exists("/usr/deja-hostile-probe"))
        self.assertEqual(self.store_loop_device(), loop)
        self.assertEqual(self.session(bystander)["state"], "recording")
        after = self.deja("checkpoint", sid).stdout.strip()
        self.assertGreater(int(after), int(first))

        branch = self.deja("revive", f"{sid}:{after}", "--detach", "--pids-max", str(PIDS_MAX),
                           "--memory-max", f"{MEMORY_MB}M").stdout.strip()
        self.sessions.append(branch)
        self.assertEqual(self.probe_round(branch, 2), results)
        self.deja("checkpoint", branch)

    def test_session_cannot_write_its_cgroup2_group(self):
        # Closed by the session's own user namespace: its root is an unprivileged host uid,
        # which the session's group (host root's) does not let write.
        self.cgroup2_write_round()

    @unittest.skip("open (issue 12) for a session recorded with --no-userns: a session program "
                   "that makes a user and cgroup namespace of its own can mount cgroup2 and "
                   "write its session's group (cgroup.freeze, cgroup.kill; memory.max and "
                   "pids.max on a cgroup v2 host), since the session's root is the host's uid 0 "
                   "and keeps CAP_SETUID; the default user namespace closes it (test above)")
    def test_session_without_userns_cannot_write_its_cgroup2_group(self):
        self.record_flags = ("--no-userns",)
        self.cgroup2_write_round()

    def cgroup2_write_round(self):
        self.init()
        sid = self.record_probe(self.store, self.store_loop_device(), str(MEMORY_MB), MARKER)
        probe = "write the session's cgroup2 group through a user namespace"
        self.assertEqual(self.probe_round(sid, 1)[probe], EXPECTED[probe])

    def test_deja_exec_is_confined_as_the_session_is(self):
        """The escapes the issue first tried through deja exec."""
        self.init()
        sid = self.record("sleep", "1000")
        for command in (["cat", "/etc/shadow"], ["mount", "-o", "remount,rw", "/"],
                        ["touch", "/usr/deja-should-not-exist"], ["ls", "/dev/vda"],
                        ["sh", "-c", "echo x > /proc/sys/kernel/core_pattern"]):
            with self.subTest(command=command):
                self.assertNotEqual(self.deja("exec", sid, "--", *command, check=False).returncode,
                                    0)
        status = self.deja("exec", sid, "--", "grep", "-E", "^(CapBnd|NoNewPrivs)",
                           "/proc/self/status").stdout.split()
        # The session's set, and CAP_SYS_PTRACE (bit 19), which its programs lack.
        self.assertEqual(status, ["CapBnd:", "00000000a00c35fb", "NoNewPrivs:", "1"])
        self.assertFalse(os.path.exists("/usr/deja-should-not-exist"))

    def test_limit_groups_are_removed_when_the_session_stops(self):
        self.init()
        sid = self.record_limited("sleep", "1000", extra=("--cpu-weight", "50"))
        groups = v1_groups(sid)
        for g in groups:
            # The session is in a member group beneath the limits (out of its cgroup namespace).
            with open(os.path.join(g, "session", "cgroup.procs")) as f:
                self.assertTrue(f.read().strip(), g)
        limits = {"pids": ("pids.max", str(PIDS_MAX)), "cpu": ("cpu.shares", "512"),
                  "memory": ("memory.limit_in_bytes", str(MEMORY_MB << 20))}
        for g in groups:
            name, value = next(v for k, v in limits.items() if f"/{k}/" in g)
            with open(os.path.join(g, name)) as f:
                self.assertEqual(f.read().strip(), value, g)
        self.deja("stop", sid)
        self.assertEqual(v1_groups(sid), [])
        self.assertFalse(os.path.exists(session_cgroup(sid)))

    def test_limit_groups_are_removed_by_stop_when_the_recorder_was_killed(self):
        self.init()
        sid = self.record_limited("sleep", "1000")
        self.kill_recorder(sid)
        self.deja("stop", sid)
        self.assertEqual(v1_groups(sid), [])

    def test_a_container_that_fails_after_its_start_leaves_no_group(self):
        """The revive gets as far as filling its skeleton (its container runs, in its limit
        groups), then refuses: a host file the session maps changed."""
        self.init()
        mapped = f"/opt/deja-e2e-sandbox-mapped-{os.getpid()}"
        sid = self.record_mapping(mapped)
        crid = self.deja("checkpoint", sid).stdout.strip()
        with open(mapped, "ab") as f:
            f.write(b"y")
        v2_groups = os.path.dirname(session_cgroup(sid))
        before = set(all_v1_session_groups()) | set(os.listdir(v2_groups))
        p = self.deja("revive", f"{sid}:{crid}", "--detach", check=False)
        self.assert_one_line_error(p, "changed since the checkpoint")
        # Other stores' sessions (other tests on this machine) may come meanwhile; a group
        # left by the failed revive would be one without processes.
        new = (set(all_v1_session_groups()) | set(os.listdir(v2_groups))) - before
        left = [g for g in new if not procs_of(os.path.join(v2_groups, g))]
        self.assertEqual(left, [])
        self.assertEqual(len(self.deja_json("sessions")), 1)

    def test_limits_that_make_no_sense_start_nothing(self):
        self.init()
        for flags, fragment in ((["--pids-max", "3"], "--pids-max"),
                                (["--pids-max", "many"], "--pids-max"),
                                (["--memory-max", "1K"], "--memory-max"),
                                (["--memory-max", "12Q"], "--memory-max"),
                                (["--cpu-weight", "0"], "--cpu-weight"),
                                (["--cpu-weight", "20000"], "--cpu-weight")):
            with self.subTest(flags=flags):
                p = self.deja("record", "--no-display", "--detach", *flags, "--", "true",
                              check=False)
                self.assert_one_line_error(p, fragment)
        self.assertEqual(self.deja_json("sessions"), [])

    def test_doctor_names_the_cgroup_version_of_each_limit(self):
        report = {f["feature"]: f for f in self.deja_json("doctor")}
        limits = report["cgroup-limits"]
        self.assertTrue(limits["ok"], limits)
        for controller in ("pids", "memory", "cpu"):
            self.assertRegex(limits["detail"], controller + r": cgroup v[12] \(/")

    def test_a_squatter_on_the_control_socket_is_not_believed(self):
        """A process that is not the session's recorder answers on its socket name (here the
        recorder is killed first, so the name is free): stop must not believe its 'ok'."""
        self.init()
        sid = self.record("sleep", "1000")
        self.kill_recorder(sid)
        name = self.socket_name(sid)
        squatter = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for _ in range(100):  # free once the killed recorder's socket is gone
            try:
                squatter.bind("\0" + name)
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.fail("the killed recorder's socket name never came free")
        squatter.listen(4)
        squatter.setblocking(False)
        try:
            p = self.deja("stop", sid, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("is not its recorder", p.stderr)
            # Stopped for real: by its cgroup, not by the squatter's word.
            self.assertFalse(os.path.exists(session_cgroup(sid)))
            self.assertEqual(self.session(sid)["state"], "stopped")
        finally:
            squatter.close()

    def socket_name(self, sid):
        """The recorder's abstract socket name (recorder/ControlChannel.cpp)."""
        h = 1469598103934665603
        for c in self.store.encode():
            h = ((h ^ c) * 1099511628211) % (1 << 64)
        return f"deja/{h:016x}/{sid}"


if __name__ == "__main__":
    unittest.main()
