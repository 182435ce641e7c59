// State larger than any default buffer, captured without a hang: a unix stream with 48 MiB
// in flight (its buffers forced far past the defaults; in a user namespace of its own, where
// the kernel refuses forcing, as much as the largest buffers it may ask for hold), a
// pseudo-terminal whose buffer is full
// with a writer thread blocked in write(2), and a 48 MiB System V shared memory segment (one of
// more than 64 MiB is refused by name: zdtm_unsupported big_shm).
// After the revive every queued byte arrives in order, the segment holds its pattern, and the
// terminal's reader gets every byte the writer wrote, the ones the full pty held included.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "zdtm.h"

static const size_t kStreamBytes = 48u << 20;
static const size_t kShmBytes = 48u << 20;
static const size_t kUnforcedMinBytes = 256u << 10;
static const char kEnd[] = "END-OF-WRITER\n";

static unsigned char stream_byte(size_t i) {
  return static_cast<unsigned char>((i * 131 + i / 4093) & 0xff);
}

// Line i of the pty writer's: 4095 bytes of one letter and a newline.
static std::string pty_line(int i) {
  std::string line(4096, static_cast<char>('a' + i % 26));
  line.back() = '\n';
  return line;
}

// Writes all of `data`: a write interrupted by the checkpoint (as by any signal) is short.
static bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

static void* pty_writer(void* arg) {
  int slave = *static_cast<int*>(arg);
  // Far more than a pty holds: this blocks until the master reads.
  for (int i = 0; i < 64; ++i)
    if (!write_all(slave, pty_line(i))) return nullptr;
  return write_all(slave, std::string_view(kEnd, sizeof kEnd - 1)) ? arg : nullptr;
}

// Reads the master until the writer's last line arrives (10 s at most): every line, in order,
// each "\n" output as "\r\n".
static void drain_until_end(int master) {
  std::string got, expected;
  for (int i = 0; i < 64; ++i) expected += pty_line(i).substr(0, 4095) + "\r\n";
  expected += "END-OF-WRITER\r\n";
  char buf[8192];
  while (got.size() < expected.size()) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) zdtm_fail("the pty reader got only %zu bytes", got.size());
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) zdtm_fail("pty read: %m");
    got.append(buf, static_cast<size_t>(n));
  }
  if (got != expected) zdtm_fail("the pty reader got other bytes (%zu of %zu)", got.size(), expected.size());
}

int main() {
  zdtm_init();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) zdtm_fail("socketpair");
  int big = 64 << 20;
  // Forcing takes CAP_NET_ADMIN in the host's user namespace (EPERM in a deja session's own);
  // then the buffers are the largest asked for without it (2 * net.core.wmem_max).
  bool forced = setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) == 0 &&
                setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) == 0;
  if (!forced && (errno != EPERM || setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big) ||
                  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big)))
    zdtm_fail("SO_SNDBUFFORCE: %m");
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  std::string block(1 << 20, '\0');
  size_t sent = 0;
  while (sent < kStreamBytes) {
    for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(stream_byte(sent + i));
    ssize_t n = write(sv[0], block.data(), block.size());
    if (n < 0 && errno == EAGAIN && !forced) break;  // as full as unforced buffers get
    if (n <= 0) zdtm_fail("only %zu bytes went into the socket: %m", sent);
    sent += static_cast<size_t>(n);
    if (forced && static_cast<size_t>(n) != block.size()) zdtm_fail("short write at %zu", sent);
  }
  // Still more than a default buffer (208 KiB) holds.
  if (sent < kUnforcedMinBytes) zdtm_fail("only %zu bytes fit the socket's buffers", sent);

  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) zdtm_fail("posix_openpt");
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  if (slave < 0) zdtm_fail("open slave");
  pthread_t writer;
  pthread_create(&writer, nullptr, pty_writer, &slave);

  int shm = shmget(IPC_PRIVATE, kShmBytes, IPC_CREAT | 0600);
  if (shm < 0) zdtm_fail("shmget: %m");
  auto* seg = static_cast<uint64_t*>(shmat(shm, nullptr, 0));
  if (seg == reinterpret_cast<void*>(-1)) zdtm_fail("shmat");
  for (size_t i = 0; i < kShmBytes / 8; i += 512) seg[i] = i * 0x9e3779b97f4a7c15ull;
  shmctl(shm, IPC_RMID, nullptr);  // removed while attached, as MIT-SHM does
  usleep(200000);                  // the writer fills the pty and blocks
  zdtm_ready();
  zdtm_wait();

  for (size_t i = 0; i < kShmBytes / 8; i += 512)
    if (seg[i] != i * 0x9e3779b97f4a7c15ull) zdtm_fail("shm word %zu changed", i);
  std::string got(1 << 20, '\0');
  for (size_t done = 0; done < sent;) {
    pollfd p{sv[1], POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) zdtm_fail("only %zu of the socket's bytes arrived", done);
    ssize_t n = read(sv[1], got.data(), got.size());
    if (n <= 0) zdtm_fail("socket read: %m");
    for (ssize_t i = 0; i < n; ++i)
      if (static_cast<unsigned char>(got[i]) != stream_byte(done + i)) zdtm_fail("socket byte %zu", done + i);
    done += static_cast<size_t>(n);
  }
  drain_until_end(master);
  void* result;
  pthread_join(writer, &result);
  if (result != &slave) zdtm_fail("the pty writer failed");
  zdtm_pass("zdtm_big_state");
}
