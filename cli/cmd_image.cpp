// `deja image show FILE`: decodes a checkpoint image to JSON on stdout (like CRIU's crit).
// A damaged image prints nothing and fails with the reader's one-line error.
#include <fcntl.h>

#include <cstdio>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "kmod/ImageJson.h"

namespace deja::cli {

int cmd_image(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const auto& pos = args.positionals();
  if (pos.size() != 2 || pos[0] != "show")
    throw Error("usage: deja image show FILE (see deja image --help)");
  const std::string& path = pos[1];
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  std::string json = kmod::image_to_json(fd.get(), path);
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace deja::cli
