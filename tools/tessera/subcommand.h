// The shared shell of every `tessera` subcommand: strict flag parsing, --help, no stray positional arguments, and
// one "tessera NAME: message" line with exit code 1 for any error the subcommand returns.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "common/command_line.h"

namespace tessera::cli {

// `specs` must contain {"help", false, ...}. `usage` follows "usage: tessera NAME " in the help text.
int RunSubcommand(int argc, char** argv, int first, const char* name, const char* usage,
                  const std::vector<FlagSpec>& specs, absl::Status (*run)(const CommandLine&));

}  // namespace tessera::cli
