#include "recorder/ContainerView.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"

namespace deja::recorder {

namespace {

void check_sys(int rc, const char* call, const std::string& object) {
  if (rc != 0) throw_errno(call, object);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void set_read_only(const std::string& path, bool recursive) {
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  check_sys(
      ::mount_setattr(AT_FDCWD, path.c_str(), recursive ? AT_RECURSIVE : 0, &attr, sizeof attr),
      "mount_setattr", path);
}

// A masked file is the host's /dev/null on a nodev mount: every open fails with EACCES, so a
// program learns nothing, not even an empty file where the secret was.
void mask_file(const std::string& path) {
  if (!exists(path)) return;
  check_sys(::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr), "mount --bind",
            "/dev/null on " + path);
  check_sys(::mount(nullptr, path.c_str(), nullptr,
                    MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOEXEC, nullptr),
            "mount -o remount,nodev", path);
}

// A masked folder is an empty read-only tmpfs.
void mask_dir(const std::string& path) {
  if (!is_dir(path)) return;
  check_sys(::mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "mode=0755,size=4k"),
            "mount tmpfs", path);
}

void bind_read_only(const std::string& from, const std::string& to) {
  check_sys(::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "mount --bind",
            from + " on " + to);
  set_read_only(to, true);
}

// Host folders whose contents are private to the host or its users: credentials, keys,
// caches of root's tools, logs, mail, other disks. A session sees each as an empty folder.
constexpr const char* kHiddenDirs[] = {
    "/root", "/var/backups", "/var/log", "/var/spool", "/var/mail",   "/etc/ssl/private",
    "/boot", "/mnt",         "/media",   "/srv",       "/lost+found",
};
// Files with secrets in /etc (ssh host keys are found by name, below).
constexpr const char* kSecretFiles[] = {
    "/etc/shadow",   "/etc/shadow-",          "/etc/gshadow",
    "/etc/gshadow-", "/etc/security/opasswd", "/etc/krb5.keytab",
};
// What of /var/lib a desktop session needs: D-Bus's machine id, X's compiled keymaps.
constexpr const char* kVarLibShown[] = {"dbus", "xkb"};

void mask_ssh_host_keys(const std::string& root) {
  const std::string dir = root + "/etc/ssh";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> keys;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.starts_with("ssh_host_") && name.ends_with("_key")) keys.push_back(dir + "/" + name);
  }
  ::closedir(d);
  for (const auto& k : keys) mask_file(k);
}

void hide_var_lib(const std::string& root) {
  const std::string var_lib = root + "/var/lib";
  if (!is_dir(var_lib)) return;
  check_sys(::mount("tmpfs", var_lib.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "mode=0755,size=64k"),
            "mount tmpfs", var_lib);
  for (const char* name : kVarLibShown) {
    std::string host = std::string("/var/lib/") + name;
    if (!is_dir(host)) continue;
    make_dirs(var_lib + "/" + name, 0755);
    bind_read_only(host, var_lib + "/" + name);
  }
  set_read_only(var_lib, false);
}

// The session's /dev: the harmless character devices of the host, its own terminals and
// shared memory, and the usual links into /proc. No disks, no loop devices (the store's
// among them), no input, sound, video or host consoles.
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

void build_private_dev(const std::string& root) {
  const std::string dev = root + "/dev";
  check_sys(::mount("tmpfs", dev.c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"),
            "mount tmpfs", dev);
  auto mount_point = [](const std::string& path) {
    ScopedFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!f) throw_errno("create", path);
  };
  for (const char* name : kDevices) {
    std::string host = std::string("/dev/") + name;
    mount_point(dev + "/" + name);
    check_sys(::mount(host.c_str(), (dev + "/" + name).c_str(), nullptr, MS_BIND, nullptr),
              "mount --bind", host + " on " + dev + "/" + name);
  }
  make_dirs(dev + "/shm", 01777);
  check_sys(::mount("tmpfs", (dev + "/shm").c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
            "mount tmpfs", dev + "/shm");
  // The session's own terminals: a private devpts instance, with /dev/ptmx pointing into it.
  make_dirs(dev + "/pts", 0755);
  check_sys(::mount("devpts", (dev + "/pts").c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                    "newinstance,ptmxmode=0666,mode=0620"),
            "mount devpts", dev + "/pts");
  mount_point(dev + "/ptmx");
  check_sys(
      ::mount((dev + "/pts/ptmx").c_str(), (dev + "/ptmx").c_str(), nullptr, MS_BIND, nullptr),
      "mount --bind", dev + "/pts/ptmx on " + dev + "/ptmx");
  const std::pair<const char*, const char*> links[] = {{"fd", "/proc/self/fd"},
                                                       {"stdin", "/proc/self/fd/0"},
                                                       {"stdout", "/proc/self/fd/1"},
                                                       {"stderr", "/proc/self/fd/2"}};
  for (const auto& [name, target] : links)
    check_sys(::symlink(target, (dev + "/" + name).c_str()), "symlink", dev + "/" + name);
  set_read_only(dev, false);
}

// What container runtimes make read-only or mask in /proc and /sys: the knobs that act on
// the whole machine (sysctls, sysrq, core_pattern) and files that leak host state.
constexpr const char* kReadOnlyProc[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/bus",
                                         "/proc/fs", "/proc/irq"};
constexpr const char* kMaskedFiles[] = {"/proc/kcore",         "/proc/keys",
                                        "/proc/timer_list",    "/proc/sched_debug",
                                        "/proc/latency_stats", "/proc/kmsg"};
constexpr const char* kMaskedDirs[] = {"/proc/acpi",          "/proc/scsi",
                                       "/sys/firmware",       "/sys/devices/virtual/powercap",
                                       "/sys/kernel/debug",   "/sys/kernel/tracing",
                                       "/sys/kernel/security"};

// Capabilities a session's root keeps: those of a root that owns its files (the defaults of
// Docker and Podman, less CAP_MKNOD: a session has no device cgroup), and CAP_NET_ADMIN,
// which acts on the session's own network namespace (forced socket buffers, its interfaces,
// TCP repair; zdtm_tcp and zdtm_big_state need it). setuid and setgid stay because programs
// drop privileges with them. Gone are mounting (CAP_SYS_ADMIN), raw I/O,
// modules, ptrace, open_by_handle_at (CAP_DAC_READ_SEARCH), TIOCSTI, time, syslog, nice,
// resource limits and the rest.
constexpr int kSessionCapabilities[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER,  CAP_FSETID,           CAP_KILL,
    CAP_SETGID, CAP_SETUID,       CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
    CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP, CAP_NET_ADMIN};

int last_capability() {
  return std::atoi(read_file("/proc/sys/kernel/cap_last_cap").c_str());
}

}  // namespace

void build_host_view(const std::string& root) {
  for (const char* d : kHiddenDirs) mask_dir(root + d);
  hide_var_lib(root);
  for (const char* f : kSecretFiles) mask_file(root + f);
  mask_ssh_host_keys(root);
  build_private_dev(root);
}

void mask_kernel_interfaces() {
  for (const char* p : kReadOnlyProc) {
    if (!exists(p)) continue;
    check_sys(::mount(p, p, nullptr, MS_BIND | MS_REC, nullptr), "mount --bind", p);
    set_read_only(p, true);
  }
  for (const char* f : kMaskedFiles) mask_file(f);
  for (const char* d : kMaskedDirs) mask_dir(d);
}

void confine_process(bool keep_ptrace) {
  uint64_t keep = 0;
  for (int cap : kSessionCapabilities) keep |= uint64_t{1} << cap;
  if (keep_ptrace) keep |= uint64_t{1} << CAP_SYS_PTRACE;
  int last = last_capability();
  for (int cap = 0; cap <= last; ++cap)
    if (!(keep & (uint64_t{1} << cap)))
      check_sys(::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl(PR_CAPBSET_DROP)",
                "capability " + std::to_string(cap));
  check_sys(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
            "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", "session process");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    data[i].permitted = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = data[i].permitted;
  }
  check_sys(static_cast<int>(::syscall(SYS_capset, &header, data)), "capset", "session process");
  check_sys(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)",
            "session process");
}

}  // namespace deja::recorder
