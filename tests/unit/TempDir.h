// A temporary folder for a unit test, removed with whatever a test mounted on it.
#pragma once

#include <stdlib.h>
#include <sys/mount.h>

#include <string>

#include "base/Files.h"

namespace deja::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/deja-unit-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    ::umount2(path_.c_str(), MNT_DETACH);  // when a test mounted something here
    run_command({"rm", "-rf", path_});
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace deja::testing
