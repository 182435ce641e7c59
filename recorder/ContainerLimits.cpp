#include "recorder/ContainerLimits.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "base/Cgroup.h"
#include "base/Error.h"
#include "base/Files.h"

namespace deja::recorder {

namespace {

constexpr const char* kControllers[] = {"pids", "memory", "cpu"};
// The v1 group the session's processes are in, beneath the session's group with the limits.
constexpr const char* kV1Member = "session";

bool has_word(const std::string& list, const std::string& word, char separator) {
  std::istringstream in(list);
  std::string w;
  while (std::getline(in, w, separator))
    if (w == word || w == word + "\n") return true;
  return false;
}

bool on_v2(const std::string& controller) {
  std::string available = read_file(cgroup2_mount() + "/cgroup.controllers");
  for (char& ch : available)
    if (ch == '\n') ch = ' ';
  return has_word(available, controller, ' ');
}

// The mount point of the v1 hierarchy that holds `controller`; empty when there is none.
std::string v1_mount(const std::string& controller) {
  std::istringstream in(read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - cgroup ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, options;
    tail >> fstype >> source >> options;
    if (!has_word(options, controller, ',')) continue;
    std::istringstream f(line);
    std::string id, parent, dev, root, mountpoint;
    f >> id >> parent >> dev >> root >> mountpoint;
    return mountpoint;
  }
  return "";
}

// This process's own group in a v1 hierarchy ("/" or "/a/b"), from /proc/self/cgroup.
// Session groups go beneath it, so whatever limits the recorder's caller set still hold.
std::string own_v1_group(const std::string& controller) {
  std::istringstream in(read_file("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    if (has_word(line.substr(a + 1, b - a - 1), controller, ',')) return line.substr(b + 1);
  }
  return "/";
}

std::string v1_session_group(const std::string& controller, const std::string& id) {
  std::string own = own_v1_group(controller);
  return v1_mount(controller) + (own == "/" ? "" : own) + "/deja/" + id;
}

// v2 controllers are handed down from the root: each level must enable them for the next.
void enable_v2(const std::string& controller) {
  for (const std::string& dir : {cgroup2_mount(), cgroup2_mount() + "/deja"}) {
    std::string control = dir + "/cgroup.subtree_control";
    if (has_word(read_file(control), controller, ' ')) continue;
    write_file(control, "+" + controller);
  }
}

void write_limit(const std::string& controller, const std::string& group,
                 const ResourceLimits& limits, bool v2) {
  if (controller == "pids") {
    write_file(group + "/pids.max", std::to_string(limits.pids_max));
  } else if (controller == "memory") {
    std::string bytes = std::to_string(limits.memory_max);
    write_file(group + (v2 ? "/memory.max" : "/memory.limit_in_bytes"), bytes);
    // Without swap accounting the limit could be dodged by swapping out.
    if (!v2 && path_exists(group + "/memory.memsw.limit_in_bytes"))
      write_file(group + "/memory.memsw.limit_in_bytes", bytes);
  } else if (v2) {
    write_file(group + "/cpu.weight", std::to_string(limits.cpu_weight));
  } else {
    // cpu.shares: 1024 is v2's weight 100.
    write_file(group + "/cpu.shares",
               std::to_string(std::max<uint64_t>(2, limits.cpu_weight * 1024 / 100)));
  }
}

uint64_t host_memory() {
  long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGESIZE);
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(size);
}

bool group_empty(const std::string& group) {
  std::string procs = read_file(group + "/cgroup.procs");
  return procs.find_first_not_of(" \n") == std::string::npos;
}

// Waits a little for the group's last processes to go, then removes it.
// The member group first; the `deja` parent goes too once no session uses it (rmdir fails
// while one does).
bool remove_group(const std::string& group) {
  const std::string member = group + "/" + kV1Member;
  for (int i = 0; i < 200 && path_exists(member) && !group_empty(member); ++i) ::usleep(10000);
  if (::rmdir(member.c_str()) != 0 && errno != ENOENT) return false;
  bool removed = ::rmdir(group.c_str()) == 0 || errno == ENOENT;
  if (removed) ::rmdir(group.substr(0, group.rfind('/')).c_str());
  return removed;
}

// Makes `deja/ID` in a v1 hierarchy; retried once when another recorder removed an empty
// `deja` between our two mkdirs.
void make_session_group(const std::string& group) {
  for (int attempt = 0;; ++attempt) {
    make_dirs(group.substr(0, group.rfind('/')), 0755);
    if (::mkdir(group.c_str(), 0755) == 0 || errno == EEXIST) return;
    if (errno != ENOENT || attempt == 1) throw_errno("mkdir", group);
  }
}

// Every `deja/ID` folder under `dir`, a few levels down (recorders nest theirs under the
// groups they were started in, which a later `deja stop` need not share).
void find_session_groups(const std::string& dir, const std::string& id, int depth,
                         std::vector<std::string>& found) {
  if (depth == 0) return;
  if (path_exists(dir + "/deja/" + id)) found.push_back(dir + "/deja/" + id);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d))
    if (e->d_type == DT_DIR && e->d_name[0] != '.') subdirs.push_back(dir + "/" + e->d_name);
  ::closedir(d);
  for (const auto& s : subdirs) find_session_groups(s, id, depth - 1, found);
}

}  // namespace

uint64_t parse_memory_size(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  uint64_t unit = 1;
  std::string suffix = end ? end : "";
  if (suffix == "K" || suffix == "k")
    unit = 1ull << 10;
  else if (suffix == "M" || suffix == "m")
    unit = 1ull << 20;
  else if (suffix == "G" || suffix == "g")
    unit = 1ull << 30;
  else if (!suffix.empty())
    end = nullptr;
  if (text.empty() || !end || end == text.c_str() || errno || text[0] == '-' ||
      n > UINT64_MAX / unit)
    throw Error("--memory-max needs a size like 512M or 2G, got '" + text + "'");
  return n * unit;
}

static const std::string kWeightRange = "give 1 to 10000 (100 is one task's share)";

static uint64_t parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno || text[0] == '-')
    throw Error(flag + " needs a whole number, got '" + text + "'");
  return n;
}

ResourceLimits limits_from_flags(const std::optional<std::string>& pids_max,
                                 const std::optional<std::string>& memory_max,
                                 const std::optional<std::string>& cpu_weight) {
  ResourceLimits limits;
  if (pids_max) limits.pids_max = parse_count("--pids-max", *pids_max);
  if (memory_max) limits.memory_max = parse_memory_size(*memory_max);
  if (cpu_weight) {
    limits.cpu_weight = parse_count("--cpu-weight", *cpu_weight);
    if (limits.cpu_weight == 0) throw Error("--cpu-weight 0 is out of range: " + kWeightRange);
  }
  check_limits(limits);
  return limits;
}

void check_limits(const ResourceLimits& limits) {
  if (limits.pids_max < 16)
    throw Error("--pids-max " + std::to_string(limits.pids_max) +
                " is too few for any session (at least 16)");
  if (limits.memory_max != 0 && limits.memory_max < (16ull << 20))
    throw Error("--memory-max " + std::to_string(limits.memory_max) +
                " bytes is too little for any session (at least 16M)");
  if (limits.cpu_weight > 10000)
    throw Error("--cpu-weight " + std::to_string(limits.cpu_weight) +
                " is out of range: " + kWeightRange);
}

std::vector<std::string> limit_controllers() {
  std::vector<std::string> out;
  for (const char* c : kControllers) {
    if (on_v2(c)) {
      out.push_back(std::string(c) + ": cgroup v2 (" + cgroup2_mount() + ")");
      continue;
    }
    std::string mount = v1_mount(c);
    if (mount.empty())
      throw Error(std::string("the cgroup controller '") + c +
                  "' is neither in the cgroup v2 tree nor mounted as a v1 hierarchy");
    out.push_back(std::string(c) + ": cgroup v1 (" + mount + ")");
  }
  return out;
}

SessionLimitGroups::SessionLimitGroups(const std::string& id, const std::string& v2_group,
                                       const ResourceLimits& requested) {
  ResourceLimits limits = requested;
  if (limits.memory_max == 0) limits.memory_max = host_memory() / 2;
  try {
    for (const char* c : kControllers) {
      if (std::string(c) == "cpu" && limits.cpu_weight == 0) continue;
      if (on_v2(c)) {
        enable_v2(c);
        write_limit(c, v2_group, limits, true);
        continue;
      }
      if (v1_mount(c).empty())
        throw Error(std::string("no cgroup controller '") + c + "' for the session's limits");
      std::string group = v1_session_group(c, id);
      make_session_group(group);
      v1_groups_.push_back(group);
      write_limit(c, group, limits, false);
      // The session joins a group beneath the one with the limits, which is then outside its
      // cgroup namespace: a program that mounts this hierarchy in a user namespace of its
      // own (which v1 allows) sees only its own group, where a limit can only be lowered.
      make_session_group(group + "/" + kV1Member);
    }
  } catch (...) {
    for (const auto& g : v1_groups_) remove_group(g);
    throw;
  }
}

SessionLimitGroups::~SessionLimitGroups() { remove(); }

void SessionLimitGroups::remove() {
  for (const auto& g : v1_groups_) remove_group(g);
  v1_groups_.clear();
}

std::vector<std::string> SessionLimitGroups::procs_files() const {
  std::vector<std::string> out;
  for (const auto& g : v1_groups_) out.push_back(g + "/" + kV1Member + "/cgroup.procs");
  return out;
}

std::vector<std::string> remove_session_limit_groups(const std::string& id) {
  std::vector<std::string> left;
  for (const char* c : kControllers) {
    if (on_v2(c)) continue;
    std::string mount = v1_mount(c);
    if (mount.empty()) continue;
    std::vector<std::string> groups;
    find_session_groups(mount, id, 4, groups);
    for (const auto& g : groups)
      if (!remove_group(g)) left.push_back(g);
  }
  return left;
}

void protect_from_oom_killer() {
  // Lowering the score needs CAP_SYS_RESOURCE, which a root in a container may lack; the
  // session's own raised score (Container.cpp) still puts it first.
  try {
    write_file("/proc/self/oom_score_adj", "-1000");
  } catch (const SysError&) {
  }
}

}  // namespace deja::recorder
