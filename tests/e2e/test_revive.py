"""Revive through the real deja binary: every zdtm program of tests/kmod is recorded as a
session, checkpointed, revived as a branch, and both copies check their own state; stock
programs revive and go on; @T picks the right checkpoint; a branch can be checkpointed and
revived; unsupported state fails the checkpoint by name and leaves the session running."""

import os
import re
import shutil
import signal
import subprocess
import sqlite3
import time

from harness import DEJA, StoreTestCase, host_pid, session_cgroup

ZDTM_DIR = os.environ.get("DEJA_ZDTM_DIR", "")
# Every zdtm program of tests/kmod/CMakeLists.txt (zdtm_file_past_eof runs in test_chain.py).
ZDTM_PROGRAMS = ["zdtm_anon_memory", "zdtm_deleted_file", "zdtm_fifo", "zdtm_files", "zdtm_fpu",
                 "zdtm_madvise", "zdtm_misc", "zdtm_pipe_inflight", "zdtm_process_tree",
                 "zdtm_adopted_session",
                 "zdtm_shmem", "zdtm_signals", "zdtm_sleeping_syscall", "zdtm_threads",
                 "zdtm_timers", "zdtm_zombie", "zdtm_unix_sockets", "zdtm_unix_creds",
                 "zdtm_unix_rights", "zdtm_epoll",
                 "zdtm_event_fds", "zdtm_pty", "zdtm_pty_inflight", "zdtm_file_sharing",
                 "zdtm_posix_timers", "zdtm_pidfd", "zdtm_inotify", "zdtm_sysv_shm",
                 "zdtm_sysv_sem_msg", "zdtm_posix_mqueue", "zdtm_netlink", "zdtm_tcp",
                 "zdtm_big_state"]
# Waits until the test has put the program into the session's home, then becomes it, so the
# program runs as PID 2 from the session's own files (the build folder may not be visible).
STAGED = ["sh", "-c", "while [ ! -x ~/prog ]; do sleep 0.05; done; exec ~/prog"]


class ReviveTestCase(StoreTestCase):
    def setUp(self):
        super().setUp()
        self.init()

    def stage(self, sid, program):
        home = os.path.join(self.store, "fs", "sessions", sid, "home")
        shutil.copy(program, os.path.join(home, ".prog"))
        os.rename(os.path.join(home, ".prog"), os.path.join(home, "prog"))

    def log(self, sid):
        return self.deja("logs", sid).stdout

    def wait_log(self, sid, text, timeout=30):
        self.wait_for(lambda: text in self.log(sid), f"'{text}' in the log of {sid}", timeout)

    def revive(self, what, *extra):
        sid = self.deja("revive", what, "--detach", "--interval", "0", *extra).stdout.strip()
        self.assertRegex(sid, r"^[0-9a-f]{8}$")
        self.sessions.append(sid)
        return sid

    def wait_stopped(self, sid, timeout=30):
        self.wait_for(lambda: self.session(sid)["state"] == "stopped", f"{sid} to stop", timeout)
        return self.session(sid)


class ZdtmTest(ReviveTestCase):
    def run_zdtm(self, name, generations=1):
        sid = self.record(*STAGED)
        self.stage(sid, os.path.join(ZDTM_DIR, name))
        self.wait_log(sid, "ready")
        copies = [sid]
        for _ in range(generations):
            crid = int(self.deja("checkpoint", copies[-1]).stdout)
            copies.append(self.revive(f"{copies[-1]}:{crid}"))
        # Signalled from outside: a program that passes ends its session at once.
        for copy in reversed(copies):
            os.kill(host_pid(copy, 2), signal.SIGUSR1)
        for copy in copies:
            s = self.wait_stopped(copy)
            log = self.log(copy)
            self.assertEqual(s["exit_status"], 0, f"{name} in {copy}:\n{log}")
            self.assertIn(f"PASS {name}", log)
        branch = self.session(copies[1])
        self.assertEqual(branch["parent"], sid)

    def test_zdtm_programs(self):
        self.assertTrue(ZDTM_DIR, "DEJA_ZDTM_DIR must name the folder of the zdtm programs")
        for name in ZDTM_PROGRAMS:
            with self.subTest(program=name):
                self.run_zdtm(name)

    def test_branch_of_a_branch(self):
        self.run_zdtm("zdtm_threads", generations=2)


class StockProgramTest(ReviveTestCase):
    def test_python_counter_goes_on_in_both(self):
        sid = self.record("python3", "-u", "-c",
                          "import time\ni = 0\nwhile True:\n    i += 1\n    print('n', i)\n"
                          "    time.sleep(0.1)")
        self.wait_log(sid, "n 5")
        crid = int(self.deja("checkpoint", sid).stdout)
        at = max(int(n) for n in re.findall(r"n (\d+)", self.log(sid)))
        branch = self.revive(f"{sid}:{crid}")
        self.wait_log(branch, f"n {at + 10}")
        self.wait_log(sid, f"n {at + 10}")
        # The branch's counting went on from the checkpoint, in its own copy of the log.
        numbers = [int(n) for n in re.findall(r"n (\d+)", self.log(branch))]
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)))

    def test_sqlite3_shell_keeps_its_database(self):
        # sqlite3 reads its commands from a FIFO the shell keeps open for writing; the
        # checkpoint comes after it created and filled a table, and each copy then adds a row
        # and reads them all back through the same sqlite3 process.
        sid = self.record("sh", "-c", "mkfifo ~/in; sqlite3 ~/db.sqlite < ~/in & exec 3> ~/in; "
                          "wait; echo done")
        home = os.path.join(self.store, "fs", "sessions", sid, "home")
        self.wait_for(lambda: os.path.exists(os.path.join(home, "in")), "the fifo")
        self.send_sql(sid, "create table t(x);", "insert into t values('before');",
                      "select 'saw', x from t;")
        self.wait_for(lambda: self.rows(home) == ["before"], "sqlite3 to write its row")
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        for copy, word in ((sid, "original"), (branch, "branch")):
            self.send_sql(copy, f"insert into t values('{word}');",
                          "select 'rows', group_concat(x) from t;", ".quit")
            self.wait_stopped(copy)
        for copy, word in ((sid, "original"), (branch, "branch")):
            log = self.log(copy)
            self.assertEqual(log.count("saw|before"), 1, log)
            self.assertIn(f"rows|before,{word}\n", log)
            self.assertIn("done", log)
            home = os.path.join(self.store, "fs", "sessions", copy, "home")
            self.assertEqual(self.rows(home), ["before", word])

    def send_sql(self, sid, *lines):
        """Writes `lines` into the session's FIFO (a dot command must start its own line)."""
        self.deja("exec", sid, "--", "sh", "-c", 'printf "%s\\n" "$@" > ~/in', "sh", *lines)

    @staticmethod
    def rows(home):
        """The rows of table t in the session's database, read from the host (read-only)."""
        path = os.path.join(home, "db.sqlite")
        if not os.path.exists(path):
            return None
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [r[0] for r in db.execute("select x from t order by rowid")]
        except sqlite3.OperationalError:  # no table yet
            return None
        finally:
            db.close()


class ChoosingCheckpointsTest(ReviveTestCase):
    def test_at_time_picks_latest_at_or_before(self):
        sid = self.record("sleep", "1000")
        crids = []
        for _ in range(3):
            crids.append(int(self.deja("checkpoint", sid).stdout))
            time.sleep(0.3)
        listed = self.deja_json("checkpoints", sid)
        t_second = listed[1]["t"]
        branch = self.revive(f"{sid}@{t_second + 0.1:.3f}")
        self.assertEqual(self.session(branch)["parent_crid"], crids[1])
        by_iso = self.revive(f"{sid}@{listed[0]['time']}")
        self.assertEqual(self.session(by_iso)["parent_crid"], crids[0])
        latest = self.revive(sid)
        self.assertEqual(self.session(latest)["parent_crid"], crids[2])

    def test_bad_choices_are_refused_and_change_nothing(self):
        sid = self.record("sleep", "1000")
        self.deja("checkpoint", sid)
        before = self.deja_json("sessions")
        for what, fragment in ((f"{sid}:999", "no checkpoint"), (f"{sid}@0", "at or before @0"),
                               ("feedbeef", "feedbeef"), (f"{sid}@later", "bad time")):
            self.assert_one_line_error(self.deja("revive", what, check=False), fragment)
        self.assertEqual(self.deja_json("sessions"), before)

    def test_files_of_a_branch_are_its_own(self):
        sid = self.record("sleep", "1000")
        self.deja("exec", sid, "--", "sh", "-c", "echo before > ~/f")
        crid = int(self.deja("checkpoint", sid).stdout)
        branch = self.revive(f"{sid}:{crid}")
        self.deja("exec", branch, "--", "sh", "-c", "echo branch > ~/f")
        self.assertEqual(self.deja("exec", sid, "--", "cat", "/home/root/f").stdout, "before\n")
        self.assertEqual(self.deja("exec", branch, "--", "sh", "-c", "cat ~/f").stdout,
                         "branch\n")


class FailedReviveTest(ReviveTestCase):
    def test_a_revive_that_fails_part_way_leaves_nothing_behind(self):
        # A host file the session maps changes after the checkpoint: the revive gets as far as
        # filling the skeleton's memory, then refuses; no session, cgroup, files or mount stay.
        mapped = f"/opt/deja-e2e-mapped-{os.getpid()}"
        sid = self.record_mapping(mapped)
        crid = int(self.deja("checkpoint", sid).stdout)
        with open(mapped, "ab") as f:
            f.write(b"y")
        self.assert_revive_fails_leaving_nothing(sid, crid, mapped, "changed since the checkpoint")

    def test_a_damaged_page_fails_the_revive_before_the_branch_runs(self):
        # The revive reads pages straight from the mapped image, and the fill checks each
        # record's checksum just before writing its bytes: one byte changed in the middle of
        # the page data (32 MiB of the image's ~33) fails it with the image named, and leaves
        # nothing behind.
        sid = self.record_random_pages()
        crid = int(self.deja("checkpoint", sid).stdout)
        image = os.path.join(self.store, "fs", "images",
                             self.deja_json("checkpoints", sid)[-1]["image"])
        flip_middle_byte(image)
        self.assert_revive_fails_leaving_nothing(sid, crid, image, "checksum mismatch in the data")

    def test_damaged_pages_in_an_older_image_of_the_chain_fail_the_revive(self):
        # An incremental checkpoint's unchanged pages live in the older image it refers to:
        # damage there fails the revive too (whether it is met reading that image's records
        # or by the fill, checking a reference's pages as it writes them).
        sid = self.record_random_pages()
        self.deja("checkpoint", sid)
        crid = int(self.deja("checkpoint", sid).stdout)
        older, latest = (os.path.join(self.store, "fs", "images", c["image"])
                         for c in self.deja_json("checkpoints", sid)[-2:])
        self.assertLess(os.path.getsize(latest), 4 << 20,
                        "the latest image should refer to the older one's 32 MiB, not hold it")
        flip_middle_byte(older)
        self.assert_revive_fails_leaving_nothing(sid, crid, os.path.basename(older),
                                                 "checksum mismatch")

    def record_random_pages(self):
        """A session whose program holds 32 MiB of random private memory, written once."""
        sid = self.record("python3", "-c", "import os, time\nb = bytearray(os.urandom(32 << 20))\n"
                          "print('ready', flush=True)\ntime.sleep(1000)")
        self.wait_for(lambda: "ready" in self.deja("logs", sid).stdout, "the program's pages")
        return sid

    def test_an_unreadable_image_fails_the_revive_with_one_line(self):
        # A read error in the image's first records (read through the mapping before any
        # checksum check) is an error line naming the image, not a SIGBUS. The error is real:
        # the image's first block is overwritten on the store's disk beneath btrfs, whose data
        # checksum then fails the read with EIO.
        sid = self.record("sleep", "1000")
        crid = int(self.deja("checkpoint", sid).stdout)
        image = os.path.join(self.store, "fs", "images",
                             self.deja_json("checkpoints", sid)[-1]["image"])
        overwrite_first_block_beneath_btrfs(image)
        self.assert_revive_fails_leaving_nothing(sid, crid, image, "cannot be read")

    def assert_revive_fails_leaving_nothing(self, sid, crid, *fragments):
        """`deja revive SID:CRID` fails with one line holding `fragments`; no session, cgroup,
        files or mount stay, and the original records on."""
        sessions = self.deja_json("sessions")
        sessions_dir = os.path.join(self.store, "fs", "sessions")
        files_before = sorted(os.listdir(sessions_dir))
        cgroups_before = sorted(os.listdir(os.path.dirname(session_cgroup(sid))))
        mounts_before = open("/proc/self/mountinfo").read().count(self.store)
        p = self.deja("revive", f"{sid}:{crid}", "--detach", check=False)
        self.assert_one_line_error(p, *fragments)
        self.assertEqual(self.deja_json("sessions"), sessions)
        self.assertEqual(sorted(os.listdir(sessions_dir)), files_before)
        # Only groups made since count: sessions of other stores on this machine may end
        # meanwhile.
        cgroups_after = os.listdir(os.path.dirname(session_cgroup(sid)))
        self.assertEqual(sorted(set(cgroups_after) - set(cgroups_before)), [])
        self.assertEqual(open("/proc/self/mountinfo").read().count(self.store), mounts_before)
        self.assertEqual(self.session(sid)["state"], "recording")


def flip_middle_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def overwrite_first_block_beneath_btrfs(path):
    """Writes over the first 4 KiB of `path`'s data where it lies in the store's loop image
    (btrfs logical -> physical -> the loop's backing file) and drops the file's cached pages,
    so the next read fails btrfs's data checksum."""
    os.sync()
    extents = subprocess.run(["filefrag", "-v", "-b4096", path], capture_output=True, text=True,
                             check=True).stdout
    first = next(l for l in extents.splitlines() if re.match(r"\s*0:", l))
    assert "inline" not in first, f"{path} is stored inline: {first}"
    logical = int(first.split(":")[2].split("..")[0]) * 4096
    device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "--target", path],
                            capture_output=True, text=True, check=True).stdout.strip()
    mapped = subprocess.run(["btrfs-map-logical", "-l", str(logical), device],
                            capture_output=True, text=True, check=True).stdout
    physical = int(re.search(r"mirror 1 logical \d+ physical (\d+)", mapped).group(1))
    loop = os.path.basename(device)
    with open(f"/sys/block/{loop}/loop/backing_file") as f:
        backing = f.read().strip()
    with open(backing, "r+b") as f:
        f.seek(physical)
        f.write(b"\x5a" * 4096)
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class InheritedFilesTest(ReviveTestCase):
    def test_callers_descriptors_stay_out_of_the_session(self):
        with open(os.path.join(self.dir, "outside"), "w") as outside:
            p = subprocess.run([DEJA, "--store", self.store, "record", "--no-display", "--detach",
                                "--interval", "0", "--", "sleep", "1000"],
                               capture_output=True, text=True, pass_fds=(outside.fileno(),))
        self.assertEqual(p.returncode, 0, p.stderr)
        sid = p.stdout.strip()
        self.sessions.append(sid)
        for pid in (1, 2):
            fds = self.deja("exec", sid, "--", "ls", f"/proc/{pid}/fd").stdout.split()
            self.assertEqual(sorted(fds), ["0", "1", "2"], f"process {pid}")
        crid = int(self.deja("checkpoint", sid).stdout)
        self.revive(f"{sid}:{crid}")


class UnsupportedStateTest(ReviveTestCase):
    def test_socket_fails_the_checkpoint_by_name_and_session_runs_on(self):
        # A UDP socket with a datagram queued (sent to itself): not supported yet.
        sid = self.record("python3", "-u", "-c",
                          "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                          "s.bind(('127.0.0.1', 0))\ns.sendto(b'x', s.getsockname())\nprint('ready')\n"
                          "i = 0\nwhile True:\n    i += 1\n    print('n', i)\n    time.sleep(0.1)")
        self.wait_log(sid, "ready")
        p = self.deja("checkpoint", sid, check=False)
        self.assert_one_line_error(p, "UDP socket with datagrams queued")
        self.assertRegex(p.stderr, r"fd 3")
        self.assertEqual(self.deja_json("checkpoints", sid), [])
        # Thawed and running: the counter keeps going.
        count = len(re.findall(r"n \d+", self.log(sid)))
        self.wait_for(lambda: len(re.findall(r"n \d+", self.log(sid))) > count + 3,
                      "the session to run on")
