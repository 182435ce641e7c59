// inotify: watches on a directory and a file of the work folder with their masks, and a wd
// number left by a removed watch. After the revive: the same watches (wd, mask) in fdinfo,
// events on the branch's own files reported with the old wd numbers, and a new watch gets the
// number the original would have given it.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "zdtm.h"

static std::set<std::string> watches(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::set<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("inotify ", 0) == 0)  // wd and mask, not the inode of this copy's file
      out.insert(line.substr(0, line.find(" ino:")) +
                 line.substr(line.find(" mask:"), line.find(" ignored_mask:") - line.find(" mask:")));
  return out;
}

static bool has_event(int fd, int wd, uint32_t mask, const char* name) {
  alignas(inotify_event) char buf[4096];
  for (int tries = 0; tries < 100; ++tries) {
    ssize_t n = read(fd, buf, sizeof buf);
    for (ssize_t at = 0; n > 0 && at < n;) {
      auto* e = reinterpret_cast<inotify_event*>(buf + at);
      if (e->wd == wd && (e->mask & mask) && (!name || (e->len && !strcmp(e->name, name))))
        return true;
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
    usleep(10000);
  }
  return false;
}

int main() {
  zdtm_init();
  mkdir("watched_dir", 0755);
  close(open("watched_file", O_CREAT | O_WRONLY, 0644));
  int in = inotify_init1(IN_NONBLOCK);
  if (in < 0) zdtm_fail("inotify_init1");
  int dir_wd = inotify_add_watch(in, "watched_dir", IN_CREATE | IN_DELETE | IN_ONLYDIR);
  int gone = inotify_add_watch(in, ".", IN_ATTRIB);
  int file_wd = inotify_add_watch(in, "watched_file", IN_MODIFY | IN_CLOSE_WRITE | IN_EXCL_UNLINK);
  if (dir_wd < 0 || gone < 0 || file_wd < 0 || inotify_rm_watch(in, gone)) zdtm_fail("watches");
  if (file_wd != 3) zdtm_fail("file watch got wd %d, expected 3", file_wd);
  char drain[4096];
  while (read(in, drain, sizeof drain) > 0) {
  }
  std::set<std::string> before = watches(in);
  zdtm_ready();
  zdtm_wait();

  if (watches(in) != before) zdtm_fail("the watches changed");
  close(open("watched_dir/after", O_CREAT | O_WRONLY, 0644));
  if (!has_event(in, dir_wd, IN_CREATE, "after")) zdtm_fail("no IN_CREATE on wd %d", dir_wd);
  int f = open("watched_file", O_WRONLY | O_APPEND);
  if (f < 0 || write(f, "x", 1) != 1) zdtm_fail("write watched_file");
  close(f);
  if (!has_event(in, file_wd, IN_MODIFY, nullptr)) zdtm_fail("no IN_MODIFY on wd %d", file_wd);
  int next = inotify_add_watch(in, ".", IN_ATTRIB);
  if (next != 4) zdtm_fail("a new watch got wd %d, the original would give 4", next);
  zdtm_pass("zdtm_inotify");
}
