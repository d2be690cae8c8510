#include "tools/tessera/subcommand.h"

#include <cstdio>
#include <string>

#include "common/json_util.h"

namespace tessera::cli {

int RunSubcommand(int argc, char** argv, int first, const char* name, const char* usage,
                  const std::vector<FlagSpec>& specs, absl::Status (*run)(const CommandLine&)) {
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(argc, argv, first, specs);
  if (flags.ok() && flags->Has("help")) {
    std::fprintf(stdout, "usage: tessera %s %s\n%s", name, usage, CommandLine::Usage(specs).c_str());
    return 0;
  }
  absl::Status status = flags.status();
  if (status.ok() && !flags->positional().empty()) {
    status = absl::InvalidArgumentError(CatMessage("unexpected argument '", flags->positional().front(), "'"));
  }
  if (status.ok()) status = run(*flags);
  if (!status.ok()) {
    std::fprintf(stderr, "tessera %s: %s\n", name, std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}


}  // namespace tessera::cli
