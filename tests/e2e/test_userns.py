"""Sessions in a user namespace (issue 12, `deja record --userns`): the session's root is an
unprivileged host uid range, its files belong to that range, deja exec runs as that root,
checkpoints work, and a branch comes back in the same namespace with the same credentials.
The zdtm programs and stock programs of test_revive run again in such sessions."""

import os
import subprocess

import test_revive
import test_sandbox
from harness import StoreTestCase, host_pid

# The range a session gets on a host whose /etc/subuid names no user "deja"
# (recorder/ContainerIds.h).
HOST_ROOT = 0x6FFF0000
COUNT = 65536


def subordinate_deja(file):
    with open(file) if os.path.exists(file) else open(os.devnull) as f:
        for line in f:
            if line.startswith("deja:"):
                return int(line.split(":")[1])
    return None


def status_ids(pid):
    """(uid, gid) of a host process, as the host sees them."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


class UserNamespaceTest(test_revive.ReviveTestCase):
    record_flags = ("--userns",)

    def setUp(self):
        super().setUp()
        self.root_uid = subordinate_deja("/etc/subuid") or HOST_ROOT
        self.root_gid = subordinate_deja("/etc/subgid") or HOST_ROOT

    def home(self, sid):
        return os.path.join(self.store, "fs", "sessions", sid, "home")

    def assert_session_root(self, sid):
        """The session's processes and its deja exec are uid 0 inside, the range outside."""
        self.assertEqual(status_ids(host_pid(sid, 1)), (self.root_uid, self.root_gid))
        self.assertEqual(status_ids(host_pid(sid, 2)), (self.root_uid, self.root_gid))
        ids = self.deja("exec", sid, "--", "sh", "-c",
                        "id -u; id -g; id -G; cat /proc/self/uid_map /proc/self/gid_map").stdout
        self.assertEqual(ids.split("\n")[:3], ["0", "0", "0"])
        self.assertEqual(ids.split()[3:], ["0", str(self.root_uid), str(COUNT),
                                           "0", str(self.root_gid), str(COUNT)])

    def test_root_inside_is_an_unprivileged_host_range_and_its_branch_too(self):
        sid = self.record("sh", "-c", "echo made > ~/by-session; echo ready; exec sleep 1000")
        self.wait_log(sid, "ready")
        self.assert_session_root(sid)
        home = self.home(sid)
        for path in (home, os.path.join(home, "by-session"),
                     os.path.join(self.store, "fs", "sessions", sid, "tmp")):
            st = os.lstat(path)
            self.assertEqual((st.st_uid, st.st_gid), (self.root_uid, self.root_gid), path)
        # A program that drops privileges lands on a host uid of the range, not a host user.
        self.deja("exec", sid, "--", "setpriv", "--reuid", "1000", "--regid", "1000",
                  "--clear-groups", "sh", "-c", "echo dropped > /tmp/by-1000")
        st = os.lstat(os.path.join(self.store, "fs", "sessions", sid, "tmp", "by-1000"))
        self.assertEqual((st.st_uid, st.st_gid), (self.root_uid + 1000, self.root_gid + 1000))
        crid = int(self.deja("checkpoint", sid).stdout)

        branch = self.revive(f"{sid}:{crid}")
        self.assert_session_root(branch)
        st = os.lstat(os.path.join(self.home(branch), "by-session"))
        self.assertEqual((st.st_uid, st.st_gid), (self.root_uid, self.root_gid))
        self.assertEqual(self.deja("exec", branch, "--", "cat", "/tmp/by-1000").stdout,
                         "dropped\n")
        self.deja("checkpoint", branch)

    def test_a_program_that_changed_its_uid_comes_back_with_it(self):
        # The engine restores the ids as the session sees them (1000), not the host's.
        sid = self.record("setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups",
                          "sh", "-c", "echo ready; exec sleep 1000")
        self.wait_log(sid, "ready")
        self.assertEqual(status_ids(host_pid(sid, 2)),
                         (self.root_uid + 1000, self.root_gid + 1000))
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.assertEqual(status_ids(host_pid(branch, 2)),
                         (self.root_uid + 1000, self.root_gid + 1000))
        self.deja("checkpoint", branch)

    def test_a_session_without_the_flag_has_no_user_namespace(self):
        self.record_flags = ()
        sid = self.record("sleep", "1000")
        self.assertEqual(status_ids(host_pid(sid, 1)), (0, 0))
        maps = self.deja("exec", sid, "--", "cat", "/proc/self/uid_map").stdout.split()
        self.assertEqual(maps, ["0", "0", "4294967295"])
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.assertEqual(status_ids(host_pid(branch, 1)), (0, 0))


class UsernsZdtmTest(test_revive.ZdtmTest):
    record_flags = ("--userns",)

    def test_zdtm_programs(self):
        # zdtm_big_state forces socket buffers past the host's maximum (SO_SNDBUFFORCE), which
        # the kernel grants only to CAP_NET_ADMIN in the host's user namespace: the test below.
        for name in test_revive.ZDTM_PROGRAMS:
            if name == "zdtm_big_state":
                continue
            with self.subTest(program=name):
                self.run_zdtm(name)

    def test_forcing_socket_buffers_is_refused_by_the_kernel(self):
        sid = self.record(*test_revive.STAGED)
        self.stage(sid, os.path.join(test_revive.ZDTM_DIR, "zdtm_big_state"))
        self.wait_log(sid, "FAIL: SO_SNDBUFFORCE: Operation not permitted")


class UsernsStockProgramTest(test_revive.StockProgramTest):
    record_flags = ("--userns",)


class UsernsHostileTest(StoreTestCase):
    """The hostile probe of test_sandbox in a session with --userns, and in its branch: every
    escape fails, the one left open without a user namespace too."""
    record_flags = ("--userns",)
    store_loop_device = test_sandbox.SandboxTest.store_loop_device
    record_limited = test_sandbox.SandboxTest.record_limited
    record_probe = test_sandbox.SandboxTest.record_probe
    probe_round = test_sandbox.SandboxTest.probe_round
    escape_rounds = test_sandbox.SandboxTest.escape_rounds

    def test_hostile_program_in_a_user_namespace_escapes_nothing(self):
        self.escape_rounds(open_escapes=set())


class UsernsDisplayTest(test_revive.ReviveTestCase):
    record_flags = ("--userns",)

    def test_x_server_and_xterm_run_and_revive(self):
        sid = self.record("xterm", "-title", "userns-xterm", "-e", "sh", "-c",
                          "echo ready; exec sleep 1000", display=True)
        find = ["env", "DISPLAY=:0", "xdotool", "search", "--name", "userns-xterm"]
        self.wait_for(lambda: self.deja("exec", sid, "--", *find, check=False).returncode == 0,
                      "the xterm window", timeout=30)
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.assertEqual(self.deja("exec", branch, "--", *find, check=False).returncode, 0)
        self.deja("checkpoint", branch)
