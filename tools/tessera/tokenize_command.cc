// `tessera tokenize`, `tessera detokenize` and `tessera chat-template`: inspect how a model folder's tokenizer and
// chat template turn text into ids and back, with exactly the library calls the engine makes (one JSON object on
// stdout per run).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "common/chat_template/chat_template.h"
#include "common/command_line.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tools/tessera/commands.h"
#include "tools/tessera/subcommand.h"

namespace tessera::cli {
namespace {

using nlohmann::ordered_json;

// Tokens can decode to any text; a JSON dump must never throw on it.
void PrintJson(const ordered_json& j) {
  std::cout << j.dump(-1, ' ', /*ensure_ascii=*/false, ordered_json::error_handler_t::replace) << "\n";
}

absl::StatusOr<std::string> ReadAllStdin() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return absl::DataLossError("cannot read standard input");
  return text;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const CommandLine& flags) {
  if (!flags.Has("model")) return absl::InvalidArgumentError("--model DIR is required");
  return Tokenizer::FromFolder(flags.GetString("model"));
}

absl::Status Tokenize(const CommandLine& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(flags));
  std::string text;
  if (flags.Has("text")) {
    text = flags.GetString("text");
  } else {
    ASSIGN_OR_RETURN(text, ReadAllStdin());
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode(text, flags.Has("add-special-tokens")));
  PrintJson({{"ids", ids}});
  return absl::OkStatus();
}

absl::Status Detokenize(const CommandLine& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(flags));
  if (!flags.Has("ids")) return absl::InvalidArgumentError("--ids 1,2,3 is required");
  std::vector<int32_t> ids;
  // An empty list is a valid (empty) sequence.
  if (const std::string list = flags.GetString("ids"); !list.empty()) {
    ASSIGN_OR_RETURN(ids, ParseIntList(list, "--ids"));
  }
  ASSIGN_OR_RETURN(std::string text, tokenizer->Decode(ids, flags.Has("skip-special-tokens")));
  PrintJson({{"text", text}});
  return absl::OkStatus();
}

// --messages holds either the list of messages or {"messages": [...], "tools": [...]}; "-" reads standard input.
absl::StatusOr<ordered_json> ReadMessagesFile(const std::string& path) {
  std::string contents;
  if (path == "-") {
    ASSIGN_OR_RETURN(contents, ReadAllStdin());
  } else {
    ASSIGN_OR_RETURN(contents, ReadFileToString(path));
  }
  ordered_json j = ordered_json::parse(contents, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(CatMessage(path, ": not valid JSON"));
  if (j.is_array()) return ordered_json{{"messages", j}};
  if (j.is_object() && j.contains("messages") && j["messages"].is_array()) return j;
  return absl::InvalidArgumentError(
      CatMessage(path, ": expected a list of messages or {\"messages\": [...], \"tools\": [...]}"));
}

absl::Status RenderChatTemplate(const CommandLine& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(flags));
  if (!flags.Has("messages")) return absl::InvalidArgumentError("--messages FILE.json is required");
  ASSIGN_OR_RETURN(ordered_json request, ReadMessagesFile(flags.GetString("messages")));

  ChatTemplateOptions options;
  options.add_generation_prompt = !flags.Has("no-generation-prompt");
  if (request.contains("tools")) options.tools = request["tools"];
  if (flags.Has("kwargs")) {
    options.kwargs = ordered_json::parse(flags.GetString("kwargs"), nullptr, /*allow_exceptions=*/false);
    if (options.kwargs.is_discarded() || !options.kwargs.is_object())
      return absl::InvalidArgumentError("--kwargs must be a JSON object, e.g. {\"enable_thinking\": false}");
  }
  const bool has_tools = options.tools.is_array() && !options.tools.empty();
  ASSIGN_OR_RETURN(ModelChatTemplate model, LoadModelChatTemplate(flags.GetString("model"), has_tools));
  ASSIGN_OR_RETURN(ChatTemplate chat_template, ChatTemplate::Parse(model.source));
  ASSIGN_OR_RETURN(std::string text,
                   chat_template.Render(BuildChatTemplateContext(model, request["messages"], options)));
  // The template writes the special tokens itself, so none are added again (as the engine does).
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer->Encode(text, /*add_special_tokens=*/false));
  PrintJson({{"text", text}, {"ids", ids}});
  return absl::OkStatus();
}

}  // namespace

int RunTokenize(int argc, char** argv, int first) {
  return RunSubcommand(argc, argv, first, "tokenize", "--model DIR [--add-special-tokens] [--text T | < stdin]",
                       {{"model", true, "model folder with tokenizer.json (and tokenizer_config.json)"},
                        {"text", true, "text to encode (default: all of standard input)"},
                        {"add-special-tokens", false, "add BOS/EOS as the tokenizer's post-processor says"},
                        {"help", false, "show this help"}},
                       Tokenize);
}

int RunDetokenize(int argc, char** argv, int first) {
  return RunSubcommand(argc, argv, first, "detokenize", "--model DIR --ids 1,2,3 [--skip-special-tokens]",
                       {{"model", true, "model folder with tokenizer.json (and tokenizer_config.json)"},
                        {"ids", true, "comma-separated token ids"},
                        {"skip-special-tokens", false, "leave special tokens out of the text"},
                        {"help", false, "show this help"}},
                       Detokenize);
}

int RunChatTemplate(int argc, char** argv, int first) {
  return RunSubcommand(
      argc, argv, first, "chat-template",
      "--model DIR --messages FILE.json [--no-generation-prompt] [--kwargs JSON]",
      {{"model", true, "model folder with tokenizer.json and a chat template"},
       {"messages", true, "JSON file: [messages...] or {\"messages\": [...], \"tools\": [...]}; - reads stdin"},
       {"no-generation-prompt", false, "do not open an assistant turn (add_generation_prompt=false)"},
       {"kwargs", true, "JSON object of extra template variables, e.g. {\"enable_thinking\": false}"},
       {"help", false, "show this help"}},
      RenderChatTemplate);
}

}  // namespace tessera::cli
