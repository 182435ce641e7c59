// deja init: create the store and its catalog.
#include <cstdio>

#include "base/Error.h"
#include "cli/Args.h"
#include "cli/StoreAccess.h"

namespace deja::cli {

int cmd_init(const Invocation& inv) {
  Args args(inv.words, {}, {"size"});
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja init --help)");
  uint64_t size = 0;
  if (auto s = args.option("size")) size = snapshot::parse_size(*s);
  OpenStore s = open_store(inv, size);
  std::printf("%s\n", s.store.dir().c_str());
  return 0;
}

}  // namespace deja::cli
