// `tessera`: offline generation and model tooling from one binary, dispatching on the first argument.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "tools/tessera/commands.h"

namespace {

struct Command {
  std::string_view name;
  int (*run)(int, char**, int);
  std::string_view help;
};

constexpr Command kCommands[] = {
    {"generate", tessera::cli::RunGenerate, "offline batch generation from a model folder"},
    {"bench", tessera::cli::RunBench, "benchmarks: `bench throughput` (offline), `bench serve` (against a server)"},
    {"download", tessera::cli::RunDownload, "fetch a model from the Hugging Face hub or ModelScope into the cache"},
    {"make-model", tessera::cli::RunMakeModel, "write a random-weight Hugging Face model folder"},
    {"tokenize", tessera::cli::RunTokenize, "text -> token ids with a model folder's tokenizer"},
    {"detokenize", tessera::cli::RunDetokenize, "token ids -> text with a model folder's tokenizer"},
    {"chat-template", tessera::cli::RunChatTemplate, "render messages with the model's chat template, and tokenize"},
};

void PrintUsage() {
  std::fprintf(stderr, "usage: tessera COMMAND [flags]   (tessera COMMAND --help for its flags)\n\ncommands:\n");
  for (const Command& c : kCommands)
    std::fprintf(stderr, "  %-14.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.help.size()), c.help.data());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    PrintUsage();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands)
    if (c.name == argv[1]) return c.run(argc, argv, 2);
  std::fprintf(stderr, "tessera: unknown command '%s'\n", argv[1]);
  PrintUsage();
  return 2;
}
