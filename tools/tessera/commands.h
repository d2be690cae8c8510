// The subcommands of the `tessera` command line. Each takes the full argv and the index of its first flag and
// returns the process exit code.
#pragma once

namespace tessera::cli {

int RunGenerate(int argc, char** argv, int first);
int RunBench(int argc, char** argv, int first);
int RunDownload(int argc, char** argv, int first);
int RunMakeModel(int argc, char** argv, int first);
int RunTokenize(int argc, char** argv, int first);
int RunDetokenize(int argc, char** argv, int first);
int RunChatTemplate(int argc, char** argv, int first);

}  // namespace tessera::cli
