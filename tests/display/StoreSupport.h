// A real store for tests that drive the `deja` binary: loop-mounted btrfs in a temporary
// folder, unmounted at the end.
#pragma once

#include <sys/mount.h>

#include <string>
#include <vector>

#include "TestSupport.h"
#include "base/Files.h"
#include "snapshot/Store.h"

namespace deja::display::test {

struct TempStore {
  TempDir dir;
  snapshot::Store store = snapshot::Store::open(dir.path() + "/store", 1ull << 30);
  ~TempStore() {
    if (store.loop_backed()) ::umount2(store.root().c_str(), MNT_DETACH);
  }
};

/// Runs `deja --store STORE ARGS...` and returns its status and output.
inline CommandResult deja(const TempStore& s, std::vector<std::string> args) {
  args.insert(args.begin(), {exe_dir() + "/deja", "--store", s.store.dir()});
  return run_command(args);
}

}  // namespace deja::display::test
