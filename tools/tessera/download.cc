// `tessera download ID`: fetches a model from the Hugging Face hub or ModelScope into the local cache (what
// huggingface_hub's snapshot_download does) and prints the snapshot folder, which --model accepts as well.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/command_line.h"
#include "common/hub/hub_environment.h"
#include "common/hub/snapshot_download.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "tools/tessera/commands.h"

namespace tessera::cli {
namespace {

constexpr const char* kUsage = "ID [--revision R] [--hub hf|modelscope] [--download-dir D] [--allow-patterns P,...]";

std::vector<FlagSpec> DownloadFlagSpecs() {
  return {
      {"revision", true, "branch, tag or commit (default: main on hf, master on modelscope)"},
      {"hub", true, "hf (default; HF_ENDPOINT, HF_TOKEN) or modelscope (MODELSCOPE_DOMAIN, MODELSCOPE_API_TOKEN)"},
      {"download-dir", true, "cache folder (default: TESSERA_CACHE, else ~/.cache/tessera)"},
      {"allow-patterns", true,
       "comma-separated glob patterns of the files to fetch, e.g. '*.json,*.safetensors' (default: config, "
       "tokenizer and safetensors files)"},
      {"max-workers", true, "files fetched in parallel (default 8)"},
      {"no-progress", false, "no progress bar on stderr"},
      {"help", false, "show this help"},
  };
}

absl::Status Download(const CommandLine& flags) {
  if (flags.positional().size() != 1) {
    return absl::InvalidArgumentError(flags.positional().empty()
                                          ? "expected a model id (org/name)"
                                          : CatMessage("expected one model id, got '", flags.positional()[1], "' too"));
  }
  hub::SnapshotRequest request;
  request.model_id = flags.positional()[0];
  request.revision = flags.GetString("revision");
  ASSIGN_OR_RETURN(request.hub, hub::ParseHubKind(flags.GetString("hub", "hf")));
  request.cache_dir = flags.GetString("download-dir");
  for (absl::string_view pattern : absl::StrSplit(flags.GetString("allow-patterns"), absl::ByAnyChar(", "),
                                                  absl::SkipWhitespace())) {
    request.allow_patterns.emplace_back(pattern);
  }
  ASSIGN_OR_RETURN(int64_t workers, flags.GetInt("max-workers", request.max_workers));
  if (workers < 1 || workers > 64) return absl::InvalidArgumentError("--max-workers must be between 1 and 64");
  request.max_workers = static_cast<int>(workers);
  request.show_progress = !flags.Has("no-progress");
  ASSIGN_OR_RETURN(std::string snapshot, hub::SnapshotDownload(request, hub::HubEnvironment::FromProcessEnvironment()));
  std::printf("%s\n", snapshot.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunDownload(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = DownloadFlagSpecs();
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(argc, argv, first, specs);
  if (flags.ok() && flags->Has("help")) {
    std::printf("usage: tessera download %s\n%s", kUsage, CommandLine::Usage(specs).c_str());
    return 0;
  }
  absl::Status status = flags.ok() ? Download(*flags) : flags.status();
  if (!status.ok()) {
    std::fprintf(stderr, "tessera download: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace tessera::cli
