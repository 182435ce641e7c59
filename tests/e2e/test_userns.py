"""Sessions in a user namespace (issue 12, the default of `deja record`): the session's root
is an unprivileged host uid range, its files belong to that range, deja exec runs as that root,
checkpoints work, and a branch comes back in the same namespace with the same credentials.
The zdtm programs of test_revive (which run there in such sessions) run again in sessions
recorded with --no-userns, which have none."""

import json
import os
import pwd
import subprocess

import test_revive
import test_sandbox
from harness import DEJA, host_pid, session_cgroup

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


def mount_count(path):
    with open("/proc/self/mountinfo") as f:
        return f.read().count(path)


def status_ids(pid):
    """(uid, gid) of a host process, as the host sees them."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


class UserNamespaceTest(test_revive.ReviveTestCase):

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

    def test_the_explicit_flag_is_the_default(self):
        self.record_flags = ("--userns",)
        sid = self.record("sh", "-c", "echo ready; exec sleep 1000")
        self.wait_log(sid, "ready")
        self.assert_session_root(sid)

    def test_userns_and_no_userns_together_are_refused(self):
        r = self.deja("record", "--userns", "--no-userns", "--no-display", "--", "true",
                      check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stderr.strip().count("\n"), 0, r.stderr)
        self.assertIn("--userns and --no-userns contradict each other", r.stderr)
        self.assertEqual(json.loads(self.deja("sessions", "--json").stdout), [])

    def test_a_session_recorded_with_no_userns_has_no_user_namespace(self):
        self.record_flags = ("--no-userns",)
        sid = self.record("sleep", "1000")
        self.assertEqual(status_ids(host_pid(sid, 1)), (0, 0))
        maps = self.deja("exec", sid, "--", "cat", "/proc/self/uid_map").stdout.split()
        self.assertEqual(maps, ["0", "0", "4294967295"])
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.assertEqual(status_ids(host_pid(branch, 1)), (0, 0))


class NoUsernsZdtmTest(test_revive.ZdtmTest):
    """Every zdtm program of e2e_revive, recorded without a user namespace (as the host's
    root, where zdtm_big_state may force its socket buffers)."""
    record_flags = ("--no-userns",)


class NoUsernsStockProgramTest(test_revive.StockProgramTest):
    record_flags = ("--no-userns",)


class UsernsDisplayTest(test_revive.ReviveTestCase):

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


SESSION_USER = "www-data"  # uid and gid 33 on Debian (base-passwd)


class SessionUserTest(test_revive.ReviveTestCase):
    """deja record --user NAME: the session's programs, its home and deja exec are that user's
    inside the namespace (host uid FIRST + 33), and its branch comes back as that user."""

    def setUp(self):
        super().setUp()
        self.root_uid = subordinate_deja("/etc/subuid") or HOST_ROOT
        self.root_gid = subordinate_deja("/etc/subgid") or HOST_ROOT
        pw = pwd.getpwnam(SESSION_USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.record_flags = ("--user", SESSION_USER)

    def assert_runs_as_the_user(self, sid):
        host = (self.root_uid + self.uid, self.root_gid + self.gid)
        self.assertEqual(status_ids(host_pid(sid, 1)), host)
        self.assertEqual(status_ids(host_pid(sid, 2)), host)
        out = self.deja("exec", sid, "--", "sh", "-c",
                        "id -u; id -g; echo $HOME; pwd; grep CapEff /proc/self/status").stdout
        self.assertEqual(out.split("\n")[:4], [str(self.uid), str(self.gid),
                                               f"/home/{SESSION_USER}", f"/home/{SESSION_USER}"])
        # deja exec keeps only CAP_SYS_PTRACE (bit 19): out of the session programs' reach.
        self.assertEqual(out.split()[-1], "0000000000080000")

    def test_programs_home_and_deja_exec_are_the_users_and_so_is_the_branch(self):
        sid = self.record("sh", "-c", "id -u > ~/by-session; echo ready; exec sleep 1000")
        self.wait_log(sid, "ready")
        self.assert_runs_as_the_user(sid)
        home = os.path.join(self.store, "fs", "sessions", sid, "home")
        self.deja("exec", sid, "--", "sh", "-c", "echo x > ~/by-exec")
        for path in (home, os.path.join(home, "by-session"), os.path.join(home, "by-exec")):
            st = os.lstat(path)
            self.assertEqual((st.st_uid, st.st_gid),
                             (self.root_uid + self.uid, self.root_gid + self.gid), path)
        with open(os.path.join(home, "by-session")) as f:
            self.assertEqual(f.read(), f"{self.uid}\n")
        # The session's user cannot do what its root could: /run is the root's.
        self.assertNotEqual(self.deja("exec", sid, "--", "touch", "/run/x", check=False)
                            .returncode, 0)
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.assert_runs_as_the_user(branch)
        self.deja("checkpoint", branch)

    def test_a_session_programs_cannot_ptrace_a_deja_exec(self):
        sid = self.record("sleep", "1000")
        helper = subprocess.Popen([DEJA, "--store", self.store, "exec", sid, "--",
                                   "sleep", "47.5"])
        try:
            find = ["pgrep", "-f", "sleep 47.5"]
            self.wait_for(lambda: self.deja("exec", sid, "--", *find, check=False).returncode == 0,
                          "the exec helper", timeout=30)
            target = self.deja("exec", sid, "--", *find).stdout.split()[0]
            # A process of the session (its user, no capabilities): PTRACE_ATTACH is refused.
            attach = ("import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
                      "r = libc.ptrace(16, int(sys.argv[1]), 0, 0); "
                      "print('attached' if r == 0 else 'errno %d' % ctypes.get_errno())")
            # Without the capability deja exec keeps: what the session's programs have.
            out = self.deja("exec", sid, "--", "setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                            "python3", "-c", attach, target, check=False)
            self.assertEqual(out.stdout.strip(), "errno 1", out.stderr)
        finally:
            helper.kill()
            helper.wait()

    def test_with_a_display_the_x_server_runs_as_the_user(self):
        sid = self.record("sh", "-c", "echo ready; exec sleep 1000", display=True)
        geometry = ["env", "DISPLAY=:0", "xdotool", "getdisplaygeometry"]
        self.wait_for(lambda: self.deja("exec", sid, "--", *geometry, check=False).returncode == 0,
                      "the X server", timeout=30)
        host = (self.root_uid + self.uid, self.root_gid + self.gid)
        with open(os.path.join(session_cgroup(sid), "cgroup.procs")) as f:
            procs = f.read().split()
        self.assertGreaterEqual(len(procs), 3)  # deja-init, Xvfb, sh
        for pid in procs:
            self.assertEqual(status_ids(pid), host, pid)
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.assertEqual(self.deja("exec", branch, "--", *geometry).returncode, 0)

    def test_under_sudo_the_user_who_asked_is_the_default(self):
        # As sudo leaves it: root, with the asking user's uid in SUDO_UID.
        env = dict(os.environ, SUDO_UID=str(self.uid))
        p = subprocess.run([DEJA, "--store", self.store, "record", "--no-display", "--detach",
                            "--interval", "0", "--", "sleep", "1000"],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        sid = p.stdout.strip()
        self.sessions.append(sid)
        self.assert_runs_as_the_user(sid)
        # A SUDO_UID without a user name: one line, nothing started.
        env["SUDO_UID"] = "54321"
        p = subprocess.run([DEJA, "--store", self.store, "record", "--no-display", "--", "true"],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assert_one_line_error(p, "uid 54321", "--user NAME")
        self.assertEqual([s["id"] for s in self.deja_json("sessions")], [sid])

    def test_an_unknown_user_is_one_line_and_starts_nothing(self):
        p = self.deja("record", "--no-display", "--user", "no-such-user-deja", "--", "true",
                      check=False)
        self.assert_one_line_error(p, "no user no-such-user-deja")
        self.assert_nothing_started()

    def test_user_without_the_user_namespace_is_refused(self):
        p = self.deja("record", "--no-display", "--no-userns", "--user", SESSION_USER, "--",
                      "true", check=False)
        self.assert_one_line_error(p, "--user", "--no-userns")
        self.assert_nothing_started()

    def assert_nothing_started(self):
        self.assertEqual(self.deja_json("sessions"), [])
        self.assertEqual(os.listdir(os.path.join(self.store, "fs", "sessions")), [])


class SubordinateIdsTest(test_revive.ReviveTestCase):
    """The range comes from a deja: line of the subordinate id files, here files the test
    writes and names with DEJA_SUBUID and DEJA_SUBGID (the machine's own stay untouched)."""

    def with_ranges(self, subuid, subgid, *args):
        files = []
        for name, text in (("subuid", subuid), ("subgid", subgid)):
            path = os.path.join(self.dir, name)
            with open(path, "w") as f:
                f.write("someone:100000:65536\n" + text)
            files.append(path)
        env = dict(os.environ, DEJA_SUBUID=files[0], DEJA_SUBGID=files[1])
        return subprocess.run([DEJA, "--store", self.store, *args],
                              capture_output=True, text=True, timeout=120, env=env), files

    def test_a_deja_line_gives_the_range(self):
        first = 0x60000000
        p, _ = self.with_ranges(f"deja:{first}:65536\n", f"deja:{first + 65536}:70000\n",
                                "record", "--no-display", "--detach", "--", "sleep", "1000")
        self.assertEqual(p.returncode, 0, p.stderr)
        sid = p.stdout.strip()
        self.sessions.append(sid)
        self.assertEqual(status_ids(host_pid(sid, 1)), (first, first + 65536))
        p, files = self.with_ranges(f"deja:{first}:65536\n", f"deja:{first + 65536}:70000\n",
                                    "doctor")
        line = next(l for l in p.stdout.splitlines() if l.startswith("user-namespace"))
        self.assertIn(" ok ", line)
        self.assertIn(f"host uids {first}-{first + 65535} (the deja: line of {files[0]}) and "
                      f"gids {first + 65536}-{first + 2 * 65536 - 1} (the deja: line of "
                      f"{files[1]})", line)

    def test_a_malformed_line_is_one_error_naming_it_and_starts_nothing(self):
        for subuid, subgid, bad in (("deja:abc:65536\n", "", "deja:abc:65536"),
                                    ("deja:1879048192:65536\n", "deja:1879048192:100\n",
                                     "deja:1879048192:100"),
                                    ("deja:0:65536\n", "", "deja:0:65536"),
                                    ("deja:99999999999:65536\n", "", "deja:99999999999:65536"),
                                    ("deja:1879048192\n", "", "deja:1879048192")):
            with self.subTest(line=bad):
                p, files = self.with_ranges(subuid, subgid, "record", "--no-display", "--",
                                            "true")
                self.assert_one_line_error(p, files[0 if bad in subuid else 1], f"'{bad}'",
                                           "FIRST > 0 and COUNT >= 65536")
                self.assertEqual(self.deja_json("sessions"), [])
                self.assertEqual(os.listdir(os.path.join(self.store, "fs", "sessions")), [])
                doctor, _ = self.with_ranges(subuid, subgid, "doctor")
                line = next(l for l in doctor.stdout.splitlines()
                            if l.startswith("user-namespace"))
                self.assertIn(" missing ", line)
                self.assertIn(f"'{bad}'", line)

    def test_a_map_the_kernel_refuses_is_one_error_and_leaves_nothing(self):
        # Well formed, but the range runs past the last host id (4294967295): the kernel
        # refuses the uid_map write, after the container's first process exists.
        last = 4294967296 - 65536
        cg2 = os.path.dirname(session_cgroup("x"))
        cgroups_before = set(os.listdir(cg2))
        v1_before = set(test_sandbox.all_v1_session_groups())
        mounts_before = mount_count(self.store)
        p, _ = self.with_ranges(f"deja:{last + 1}:65536\n", f"deja:{last + 1}:65536\n",
                                "record", "--no-display", "--", "sleep", "1000")
        self.assert_one_line_error(p, "the kernel refused the session's id map",
                                   f"host ids from {last + 1}", "uid_map", "Invalid argument")
        self.assertEqual(self.deja_json("sessions"), [])
        self.assertEqual(os.listdir(os.path.join(self.store, "fs", "sessions")), [])
        self.assertEqual(os.listdir(os.path.join(self.store, "fs", "snapshots")), [])
        # Only groups made since count: sessions of other stores on this machine may end
        # meanwhile.
        self.assertEqual(sorted(set(os.listdir(cg2)) - cgroups_before), [])
        self.assertEqual(sorted(set(test_sandbox.all_v1_session_groups()) - v1_before), [])
        self.assertEqual(mount_count(self.store), mounts_before)
        doctor, _ = self.with_ranges(f"deja:{last + 1}:65536\n", f"deja:{last + 1}:65536\n",
                                     "doctor")
        line = next(l for l in doctor.stdout.splitlines() if l.startswith("user-namespace"))
        self.assertIn("the kernel refused the session's id map", line)
