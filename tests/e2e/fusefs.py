"""A one-file FUSE file system for tests, served by this process through /dev/fuse itself
(Debian 12 here has the kernel's FUSE but no libfuse or python3-fuse installed, and none is
needed): a read-only root holding `file`. Attributes are never cached (attr_valid 0), so every
stat of the file asks this server. `hang()` stops answering, as a stuck FUSE server would;
`answer()` goes on. Mounted on a folder by the constructor; close() unmounts it (lazily, so
requests stuck in the kernel end with ENOTCONN) and ends the server thread."""

import ctypes
import errno
import os
import stat
import struct
import threading

FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR = 1, 2, 3
FUSE_OPEN, FUSE_READ, FUSE_STATFS, FUSE_RELEASE = 14, 15, 17, 18
FUSE_FLUSH, FUSE_INIT, FUSE_OPENDIR, FUSE_READDIR, FUSE_RELEASEDIR = 25, 26, 27, 28, 29
FUSE_ACCESS, FUSE_INTERRUPT, FUSE_DESTROY, FUSE_BATCH_FORGET = 34, 36, 38, 42

IN_HEADER = struct.Struct("<IIQQIIIHH")   # len, opcode, unique, nodeid, uid, gid, pid, ...
OUT_HEADER = struct.Struct("<IiQ")        # len, error, unique
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")  # ino, size, blocks, times, modes, ids, blksize
ROOT, FILE = 1, 2


class FuseFile:
    def __init__(self, mountpoint, content=b"fuse file\n"):
        self.mountpoint = mountpoint
        self.content = content
        self._answering = threading.Event()
        self._answering.set()
        self._closed = False
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        libc = ctypes.CDLL(None, use_errno=True)
        opts = f"fd={self.fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
        ms_nosuid, ms_nodev = 2, 4
        if libc.mount(b"dejatest", mountpoint.encode(), b"fuse.dejatest", ms_nosuid | ms_nodev,
                      opts) != 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, f"mount fuse on {mountpoint}: {os.strerror(e)}")
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def hang(self):
        self._answering.clear()

    def answer(self):
        self._answering.set()

    def close(self):
        self._closed = True
        os.system(f"umount -l {self.mountpoint}")
        self._answering.set()
        self._thread.join(timeout=10)
        os.close(self.fd)

    def _attr(self, node):
        now = int(os.times().elapsed)
        if node == ROOT:
            return ATTR.pack(ROOT, 0, 0, now, now, now, 0, 0, 0, stat.S_IFDIR | 0o755, 2,
                             0, 0, 0, 4096, 0)
        return ATTR.pack(FILE, len(self.content), 1, now, now, now, 0, 0, 0,
                         stat.S_IFREG | 0o644, 1, 0, 0, 0, 4096, 0)

    def _reply(self, unique, body=b"", error=0):
        try:
            os.write(self.fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), -error, unique) + body)
        except OSError:
            pass  # the request was interrupted, or the file system is going

    def _serve(self):
        while not self._closed:
            self._answering.wait()
            try:
                request = os.read(self.fd, 1 << 20)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return  # ENODEV: unmounted
            self._answering.wait()  # a request read just as hang() came waits too
            _, op, unique, node, *_ = IN_HEADER.unpack_from(request)
            body = request[IN_HEADER.size:]
            self._handle(op, unique, node, body)

    def _handle(self, op, unique, node, body):
        if op in (FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT):
            return  # no answer is expected
        if op == FUSE_INIT:
            major, minor, readahead = struct.unpack_from("<III", body)
            out = struct.pack("<IIIIHHIIHHII", 7, 31, readahead, 0, 16, 12, 1 << 16, 1, 0, 0,
                              0, 0) + bytes(24)
            return self._reply(unique, out)
        if op == FUSE_LOOKUP:
            if node == ROOT and body.rstrip(b"\0") == b"file":
                return self._reply(unique, struct.pack("<QQQQII", FILE, 0, 0, 0, 0, 0)
                                   + self._attr(FILE))
            return self._reply(unique, error=errno.ENOENT)
        if op == FUSE_GETATTR:
            return self._reply(unique, struct.pack("<QII", 0, 0, 0) + self._attr(node))
        if op in (FUSE_OPEN, FUSE_OPENDIR):
            return self._reply(unique, struct.pack("<QII", 0, 0, 0))
        if op == FUSE_READ:
            _, offset, size = struct.unpack_from("<QQI", body)
            return self._reply(unique, self.content[offset:offset + size] if node == FILE
                               else b"")
        if op == FUSE_READDIR:
            return self._reply(unique, b"")
        if op == FUSE_STATFS:
            return self._reply(unique, struct.pack("<QQQQQIIII", 1, 0, 0, 1, 0, 4096, 255,
                                                   4096, 0) + bytes(24))
        if op in (FUSE_RELEASE, FUSE_RELEASEDIR, FUSE_FLUSH, FUSE_ACCESS, FUSE_DESTROY):
            return self._reply(unique)
        self._reply(unique, error=errno.ENOSYS)
