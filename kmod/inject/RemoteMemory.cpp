#include "kmod/inject/RemoteMemory.h"

#include <fcntl.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdio>

#include "base/Error.h"
#include "kmod/ProcFs.h"

namespace deja::kmod {

namespace {
std::string where(HostPid pid, RemotePtr addr) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "process %d at 0x%llx", pid.value,
                static_cast<unsigned long long>(addr.addr));
  return buf;
}
}  // namespace

RemoteMemory::RemoteMemory(HostPid pid)
    : pid_(pid),
      fd_(::open(procfs::path(pid, "mem").c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_) throw_errno("open", procfs::path(pid, "mem"));
}

void RemoteMemory::read_into(RemotePtr addr, char* out, size_t len) const {
  size_t done = 0;
  while (done < len) {
    // process_vm_readv copies straight between the address spaces; it stops at a page the
    // target may not read (PROT_NONE), which /proc/PID/mem then reads with FOLL_FORCE.
    iovec local{out + done, len - done},
        remote{reinterpret_cast<void*>(addr.addr + done), len - done};
    ssize_t fast = ::process_vm_readv(pid_.value, &local, 1, &remote, 1, 0);
    if (fast > 0) {
      done += static_cast<size_t>(fast);
      continue;
    }
    size_t chunk = std::min(len - done, static_cast<size_t>(kPageSize));
    ssize_t n = ::pread(fd_.get(), out + done, chunk, static_cast<off_t>(addr.addr + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno("read memory of", where(pid_, addr + done), n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
}

void RemoteMemory::read_batch(const std::vector<Piece>& pieces) const {
  constexpr size_t kMaxIov = 1024;  // IOV_MAX
  std::vector<iovec> local, remote;
  for (size_t at = 0; at < pieces.size(); at += kMaxIov) {
    size_t n = std::min(kMaxIov, pieces.size() - at);
    local.clear();
    remote.clear();
    size_t want = 0;
    for (size_t i = at; i < at + n; ++i) {
      local.push_back({pieces[i].out, pieces[i].len});
      remote.push_back({reinterpret_cast<void*>(pieces[i].addr.addr), pieces[i].len});
      want += pieces[i].len;
    }
    ssize_t got = ::process_vm_readv(pid_.value, local.data(), n, remote.data(), n, 0);
    if (got == static_cast<ssize_t>(want)) continue;
    // Some piece the fast path refuses (PROT_NONE): read this batch piece by piece.
    for (size_t i = at; i < at + n; ++i) read_into(pieces[i].addr, pieces[i].out, pieces[i].len);
  }
}

std::string RemoteMemory::read(RemotePtr addr, size_t len) const {
  std::string s(len, '\0');
  read_into(addr, s.data(), len);
  return s;
}

void RemoteMemory::write(RemotePtr addr, std::string_view data) const {
  size_t done = 0;
  while (done < data.size()) {
    // As for reads: the direct copy first, /proc/PID/mem for pages the target cannot write.
    size_t left = data.size() - done;
    iovec local{const_cast<char*>(data.data() + done), left},
        remote{reinterpret_cast<void*>(addr.addr + done), left};
    ssize_t fast = ::process_vm_writev(pid_.value, &local, 1, &remote, 1, 0);
    if (fast > 0) {
      done += static_cast<size_t>(fast);
      continue;
    }
    size_t chunk = std::min(left, static_cast<size_t>(kPageSize));
    ssize_t n =
        ::pwrite(fd_.get(), data.data() + done, chunk, static_cast<off_t>(addr.addr + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno("write memory of", where(pid_, addr + done), n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
}

void write_memory(HostPid pid, RemotePtr addr, std::string_view data) {
  iovec local{const_cast<char*>(data.data()), data.size()},
      remote{reinterpret_cast<void*>(addr.addr), data.size()};
  ssize_t n = ::process_vm_writev(pid.value, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(data.size()))
    throw_errno("process_vm_writev", where(pid, addr), n < 0 ? errno : EIO);
}

void read_memory(HostPid pid, RemotePtr addr, char* out, size_t len) {
  iovec local{out, len}, remote{reinterpret_cast<void*>(addr.addr), len};
  ssize_t n = ::process_vm_readv(pid.value, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(len))
    throw_errno("process_vm_readv", where(pid, addr), n < 0 ? errno : EIO);
}

}  // namespace deja::kmod
