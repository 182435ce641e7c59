#include "kmod/ProcFs.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string_view>
#include <utility>

#include "base/Error.h"
#include "base/Files.h"

namespace deja::kmod::procfs {

std::string path(HostPid pid, std::string_view what) {
  std::string out = "/proc/" + std::to_string(pid.value);
  if (!what.empty()) out.append("/").append(what);
  return out;
}

std::string task_path(HostPid pid, HostPid tid, std::string_view what) {
  return path(pid,
              "task/" + std::to_string(tid.value) + (what.empty() ? "" : "/") + std::string(what));
}

std::string fd_path(HostPid pid, int fd) {
  return path(pid, "fd/" + std::to_string(fd));
}

std::string fd_path(VPid pid, int fd) {
  return "/proc/" + std::to_string(pid.value) + "/fd/" + std::to_string(fd);
}

std::string map_file_path(HostPid pid, uint64_t start, uint64_t end) {
  char range[40];
  std::snprintf(range, sizeof range, "map_files/%llx-%llx", static_cast<unsigned long long>(start),
                static_cast<unsigned long long>(end));
  return path(pid, range);
}

namespace {

// Calls `each` with every line of `text`, without its newline.
template <typename Each>
void for_each_line(const std::string& text, Each each) {
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    each(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
}

std::string_view trimmed(std::string_view v) {
  size_t at = v.find_first_not_of(" \t");
  return at == std::string_view::npos ? std::string_view() : v.substr(at);
}

// The number at the start of `v` (leading blanks skipped), in `base`; 0 when there is none.
uint64_t number(std::string_view v, int base = 10) {
  v = trimmed(v);
  uint64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out, base);
  return out;
}

// Every number of `v`, as a "Uid:" or "NSpid:" line lists them.
std::vector<uint64_t> numbers(std::string_view v) {
  std::vector<uint64_t> out;
  for (v = trimmed(v); !v.empty();) {
    out.push_back(number(v));
    size_t end = v.find_first_of(" \t");
    v = end == std::string_view::npos ? std::string_view() : trimmed(v.substr(end));
  }
  return out;
}

Status parse_status(const std::string& text, const std::string& file) {
  Status st;
  bool ids = false;
  for_each_line(text, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view key = line.substr(0, colon), v = line.substr(colon + 1);
    auto pid = [&] { return static_cast<pid_t>(number(v)); };
    auto innermost = [&](size_t* levels = nullptr) {
      std::vector<uint64_t> n = numbers(v);
      if (levels) *levels = n.size();
      return n.empty() ? pid_t{0} : static_cast<pid_t>(n.back());
    };
    auto four = [&](std::array<uint32_t, 4>& out) {
      std::vector<uint64_t> n = numbers(v);
      if (n.size() != 4) throw Error("cannot parse " + std::string(key) + " in " + file);
      for (size_t i = 0; i < 4; ++i) out[i] = static_cast<uint32_t>(n[i]);
      ids = true;
    };
    static constexpr std::string_view kCaps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    if (key == "Name")
      st.name = trimmed(v);
    else if (key == "PPid")
      st.ppid = pid();
    else if (key == "TracerPid")
      st.tracer_pid = pid();
    else if (key == "Uid")
      four(st.uid);
    else if (key == "Gid")
      four(st.gid);
    else if (key == "Umask")
      st.umask = static_cast<uint32_t>(number(v, 8));
    else if (key == "NSpid")
      st.ns_pid = innermost(&st.pid_namespaces);
    else if (key == "NSpgid")
      st.ns_pgid = innermost();
    else if (key == "NSsid")
      st.ns_sid = innermost();
    else if (key == "SigIgn")
      st.sig_ignored = number(v, 16);
    else if (key == "SigCgt")
      st.sig_caught = number(v, 16);
    else if (key == "RssAnon")
      st.rss_anon_kib = number(v);
    else if (key == "NoNewPrivs")
      st.no_new_privs = static_cast<uint32_t>(number(v));
    else if (key == "Seccomp")
      st.seccomp = static_cast<int>(number(v));
    else
      for (size_t i = 0; i < 5; ++i)
        if (key == kCaps[i]) st.capabilities[i] = trimmed(v);
  });
  if (!ids || st.pid_namespaces == 0)
    throw Error("cannot parse " + file + ": no Uid, Gid or NSpid");
  return st;
}

std::vector<int> numeric_entries(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) throw_errno("opendir", dir);
  std::vector<int> out;
  while (dirent* e = ::readdir(d.get())) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    out.push_back(std::atoi(e->d_name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Status status(HostPid pid) {
  std::string file = path(pid, "status");
  return parse_status(read_file(file), file);
}

Status task_status(HostPid pid, HostPid tid) {
  std::string file = task_path(pid, tid, "status");
  return parse_status(read_file(file), file);
}

std::string_view field(std::string_view text, std::string_view key) {
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    std::string_view line = text.substr(at, nl == std::string_view::npos ? nl : nl - at);
    if (line.starts_with(key)) return trimmed(line.substr(key.size()));
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  return {};
}

uint32_t id_inside(HostPid pid, const char* map_file, uint32_t host_id) {
  // Read from the parent namespace, each line is "INSIDE HOST COUNT"; ours maps all 1:1.
  std::string text = read_file(path(pid, map_file));
  const char* at = text.c_str();
  for (;;) {
    char* end;
    uint64_t inside = std::strtoull(at, &end, 10);
    if (end == at) return 65534;
    uint64_t host = std::strtoull(end, &end, 10);
    uint64_t count = std::strtoull(end, &end, 10);
    if (host_id >= host && host_id - host < count)
      return static_cast<uint32_t>(inside + host_id - host);
    at = end;
  }
}

namespace {

Stat parse_stat(const std::string& s, const std::string& file) {
  // The command name may hold spaces and parentheses: fields resume after the last ')'.
  auto open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open ||
      close + 2 > s.size())
    throw Error("cannot parse " + file);
  // Index 0 unused, 1 and 2 (pid, comm) left empty, so f[n] is proc(5)'s field n.
  std::vector<std::string_view> f(3);
  std::string_view rest = std::string_view(s).substr(close + 2);
  while (!rest.empty()) {
    size_t end = rest.find_first_of(" \n");
    if (end != 0) f.push_back(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  if (f.size() < 53 || f[3].size() != 1)
    throw Error("cannot parse " + file + ": " + std::to_string(f.size() - 1) +
                " fields, expected at least 52");
  // Every field used is a number, followed by a space or the newline.
  auto u = [&](int i) { return std::strtoull(f[static_cast<size_t>(i)].data(), nullptr, 10); };
  Stat st;
  st.comm = s.substr(open + 1, close - open - 1);
  st.state = f[3][0];
  st.tty_nr = u(7);
  st.nice = static_cast<int>(std::strtoll(f[19].data(), nullptr, 10));
  st.start_time = u(22);
  st.start_code = u(26);
  st.end_code = u(27);
  st.start_stack = u(28);
  st.rt_priority = static_cast<uint32_t>(u(40));
  st.policy = static_cast<uint32_t>(u(41));
  st.start_data = u(45);
  st.end_data = u(46);
  st.start_brk = u(47);
  st.arg_start = u(48);
  st.arg_end = u(49);
  st.env_start = u(50);
  st.env_end = u(51);
  st.exit_code = static_cast<int>(std::strtoll(f[52].data(), nullptr, 10));
  return st;
}

}  // namespace

Stat stat(HostPid pid) {
  return parse_stat(read_file(path(pid, "stat")), path(pid, "stat"));
}

Stat task_stat(HostPid pid, HostPid tid) {
  std::string file = task_path(pid, tid, "stat");
  return parse_stat(read_file(file), file);
}

std::vector<HostPid> tasks(HostPid pid) {
  std::vector<HostPid> out;
  for (int t : numeric_entries(path(pid, "task"))) out.push_back(HostPid{t});
  return out;
}

std::vector<HostPid> children(HostPid pid) {
  std::vector<HostPid> out;
  for (HostPid t : tasks(pid)) {
    std::istringstream in(read_file(task_path(pid, t, "children")));
    int c;
    while (in >> c) out.push_back(HostPid{c});
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// Reads a number in `base` from the front of `s` and the one `sep` after it, if given.
bool take_number(std::string_view& s, uint64_t& out, int base, char sep) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc() || end == s.data()) return false;
  s.remove_prefix(static_cast<size_t>(end - s.data()));
  if (sep == 0) return true;
  if (s.empty() || s.front() != sep) return false;
  s.remove_prefix(1);
  return true;
}

// "start-end perms offset dev inode path": false for a line of another shape (smaps fields).
// By hand rather than sscanf: a desktop's smaps has 50,000 lines, read twice a checkpoint.
bool parse_maps_line(std::string_view line, MapsEntry& e) {
  // Mapping lines start with a lowercase hex address; field lines with a capitalised name.
  if (line.empty() || !std::isxdigit(static_cast<unsigned char>(line[0])) ||
      std::isupper(static_cast<unsigned char>(line[0])))
    return false;
  uint64_t maj, min;
  if (!take_number(line, e.start, 16, '-') || !take_number(line, e.end, 16, ' ')) return false;
  size_t space = line.find(' ');
  if (space == std::string_view::npos || space > 7) return false;
  e.perms = std::string(line.substr(0, space));
  line.remove_prefix(space + 1);
  if (!take_number(line, e.offset, 16, ' ') || !take_number(line, maj, 16, ':') ||
      !take_number(line, min, 16, ' ') || !take_number(line, e.inode, 10, 0))
    return false;
  e.dev_major = static_cast<uint32_t>(maj);
  e.dev_minor = static_cast<uint32_t>(min);
  size_t path = line.find_first_not_of(' ');
  e.path = path == std::string_view::npos ? std::string() : std::string(line.substr(path));
  return true;
}

}  // namespace

MountTypes mount_types(HostPid pid) {
  return parse_mount_types(read_file(path(pid, "mountinfo")), path(pid, "mountinfo"));
}

MountTypes parse_mount_types(const std::string& text, const std::string& what) {
  // "36 35 98:0 /root /mnt rw,noatime shared:1 - ext4 /dev/vda rw": id, parent, device,
  // ..., the optional fields end at " - ", then the type.
  MountTypes out;
  for_each_line(text, [&](std::string_view line) {
    size_t dash = line.find(" - ");
    int id = 0;
    unsigned maj = 0, min = 0;
    std::string dev_field;
    std::istringstream head{std::string(line.substr(0, dash))};
    std::string parent;
    if (dash == std::string_view::npos || !(head >> id >> parent >> dev_field) ||
        std::sscanf(dev_field.c_str(), "%u:%u", &maj, &min) != 2)
      throw Error("cannot parse " + what + " line: " + std::string(line));
    std::string_view rest = line.substr(dash + 3);
    std::string type(rest.substr(0, rest.find(' ')));
    out.by_id[id] = type;
    out.by_dev[{maj, min}] = type;
  });
  return out;
}

uint64_t mount_namespace(HostPid pid) {
  std::string ns = path(pid, "ns/mnt");
  struct stat sb;
  if (::stat(ns.c_str(), &sb) < 0) throw_errno("stat", ns);
  return sb.st_ino;
}

bool served_by_a_program(const std::string& fstype) {
  return fstype == "fuse" || fstype == "fuseblk" || fstype.starts_with("fuse.");
}

std::vector<MapsEntry> maps(HostPid pid) {
  std::vector<MapsEntry> out;
  for_each_line(read_file(path(pid, "maps")), [&](std::string_view line) {
    MapsEntry e;
    if (!parse_maps_line(line, e))
      throw Error("cannot parse " + path(pid, "maps") + " line: " + std::string(line));
    out.push_back(std::move(e));
  });
  return out;
}

bool anonymous(const MapsEntry& m) {
  return m.path.empty() || m.path == "[heap]" || m.path == "[stack]" ||
         m.path.rfind("[anon:", 0) == 0;
}

std::string describe(const MapsEntry& m) {
  char range[48];
  std::snprintf(range, sizeof range, "%llx-%llx ", static_cast<unsigned long long>(m.start),
                static_cast<unsigned long long>(m.end));
  return range + m.perms + (m.path.empty() ? "" : " " + m.path);
}

FdInfo fdinfo(HostPid pid, int fd) {
  FdInfo i;
  i.text = read_file(path(pid, "fdinfo/" + std::to_string(fd)));
  i.pos = number(field(i.text, "pos:"));
  i.flags = static_cast<uint32_t>(number(field(i.text, "flags:"), 8));
  return i;
}

std::vector<int> fds(HostPid pid) {
  return numeric_entries(path(pid, "fd"));
}

std::vector<SmapsEntry> smaps(HostPid pid) {
  std::vector<SmapsEntry> out;
  for_each_line(read_file(path(pid, "smaps")), [&](std::string_view line) {
    if (line.starts_with("VmFlags:")) {
      if (out.empty())
        throw Error("cannot parse " + path(pid, "smaps") + ": VmFlags before a mapping");
      out.back().flags = std::string(line.substr(8));
      return;
    }
    if (line.starts_with("Anonymous:")) {
      if (out.empty())
        throw Error("cannot parse " + path(pid, "smaps") + ": Anonymous before a mapping");
      std::string_view n = line.substr(line.find_first_not_of(' ', 10));
      std::from_chars(n.data(), n.data() + n.size(), out.back().anonymous_kb);
      return;
    }
    // Field lines ("Rss:   12 kB") start with a name; a mapping's header with its range.
    MapsEntry e;
    if (parse_maps_line(line, e)) out.push_back({std::move(e), {}});
  });
  return out;
}

bool only_file_pages(const SmapsEntry& e) {
  const MapsEntry& m = e.map;
  if (m.perms.size() != 4 || m.perms[1] == 'w' || m.perms[3] != 'p' || m.inode == 0) return false;
  if (anonymous(m) || e.anonymous_kb != 0) return false;
  return !has_vm_flag(e.flags, vm_flag("ac")) && !has_vm_flag(e.flags, vm_flag("nr"));
}

bool has_vm_flag(std::string_view flags, uint16_t flag) {
  bool found = false;
  for_each_vm_flag(flags, [&](uint16_t f) { found |= f == flag; });
  return found;
}

std::vector<std::array<uint64_t, 2>> limits(HostPid pid) {
  // Fixed columns (fs/proc/base.c): name 25 wide, then soft and hard limits 20 wide each.
  std::vector<std::array<uint64_t, 2>> out;
  bool header = true;
  for_each_line(read_file(path(pid, "limits")), [&](std::string_view line) {
    if (std::exchange(header, false)) return;
    auto bad = [&] { return Error("cannot parse " + path(pid, "limits") + ": " + std::string(line)); };
    // A column: spaces, then "unlimited" or a number, then spaces.
    auto value = [&](std::string_view field) -> uint64_t {
      size_t a = field.find_first_not_of(' ');
      if (a == std::string_view::npos) throw bad();
      field = field.substr(a, field.find(' ', a) - a);
      if (field == "unlimited") return ~0ull;
      uint64_t v = 0;
      auto [end, err] = std::from_chars(field.data(), field.data() + field.size(), v);
      if (err != std::errc() || end != field.data() + field.size()) throw bad();
      return v;
    };
    if (line.size() < 67) throw bad();
    out.push_back({value(line.substr(26, 21)), value(line.substr(47, 21))});
  });
  return out;
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink", path);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace deja::kmod::procfs
