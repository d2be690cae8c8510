#include "common/tokenizer/regex.h"

#include "absl/strings/str_cat.h"

namespace tessera::tok {
namespace {

// Per-thread matching resources: a JIT stack larger than PCRE2's 32 KiB default, so that long runs of one class
// (a 1 MB run of spaces) do not fail, and the match context that carries it.
class ThreadMatchResources {
 public:
  ThreadMatchResources() {
    context_ = pcre2_match_context_create(nullptr);
    jit_stack_ = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context_ != nullptr && jit_stack_ != nullptr) pcre2_jit_stack_assign(context_, nullptr, jit_stack_);
    // One ovector pair is enough: only the whole match is read (a return code of 0 then still means a match).
    // The data is read right after each match and before any callback, so nested use from a callback is safe.
    match_data_ = pcre2_match_data_create(1, nullptr);
  }
  ~ThreadMatchResources() {
    if (match_data_ != nullptr) pcre2_match_data_free(match_data_);
    if (jit_stack_ != nullptr) pcre2_jit_stack_free(jit_stack_);
    if (context_ != nullptr) pcre2_match_context_free(context_);
  }
  pcre2_match_context* context() { return context_; }
  pcre2_match_data* match_data() { return match_data_; }

 private:
  pcre2_match_context* context_ = nullptr;
  pcre2_match_data* match_data_ = nullptr;
  pcre2_jit_stack* jit_stack_ = nullptr;
};

ThreadMatchResources& ThreadResources() {
  thread_local ThreadMatchResources resources;
  return resources;
}

std::string Pcre2ErrorMessage(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return absl::StrCat("PCRE2 error ", code);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                   &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot compile regex '", std::string(pattern), "' at offset ",
                                                   error_offset, ": ", Pcre2ErrorMessage(error_code)));
  }
  const bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Regex>(new Regex(std::string(pattern), code, jit));
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::CompileLiteral(std::string_view text) {
  std::string quoted;
  quoted.reserve(text.size() * 2);
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    const bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80;
    if (c == '\0') {
      quoted += "\\x{0}";
      continue;
    }
    if (!alnum) quoted.push_back('\\');
    quoted.push_back(c);
  }
  return Compile(quoted);
}

Regex::~Regex() { pcre2_code_free(code_); }

absl::Status Regex::ForEachMatch(std::string_view text,
                                 absl::FunctionRef<absl::Status(size_t, size_t)> on_match) const {
  ThreadMatchResources& resources = ThreadResources();
  pcre2_match_data* data = resources.match_data();
  if (data == nullptr) return absl::ResourceExhaustedError("cannot allocate regex match data");
  pcre2_match_context* context = resources.context();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    const int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), offset, 0, data, context)
                        : pcre2_match(code_, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data, context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("regex '", pattern_, "' failed on a ", text.size(), "-byte input: ", Pcre2ErrorMessage(rc)));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t start = ovector[0];
    const size_t end = ovector[1];
    absl::Status status = on_match(start, end);
    if (!status.ok()) return status;
    if (end > start) {
      offset = end;
    } else {
      // Step over one whole code point so that the next search starts on a character boundary.
      offset = end + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
    }
  }
  return absl::OkStatus();
}

bool Regex::MatchesAtStart(std::string_view text) const {
  ThreadMatchResources& resources = ThreadResources();
  pcre2_match_data* data = resources.match_data();
  if (data == nullptr) return false;
  const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                             PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, data, resources.context());
  return rc >= 0;
}

absl::StatusOr<Pattern> Pattern::FromJson(const nlohmann::json& json, std::string_view field) {
  Pattern pattern;
  if (json.is_object() && json.contains("String") && json["String"].is_string()) {
    pattern.literal_ = json["String"].get<std::string>();
    return pattern;
  }
  if (json.is_object() && json.contains("Regex") && json["Regex"].is_string()) {
    auto regex = Regex::Compile(json["Regex"].get<std::string>());
    if (!regex.ok())
      return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": ", regex.status().message()));
    pattern.regex_ = std::move(*regex);
    return pattern;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(field), ": expected {\"String\": ...} or {\"Regex\": ...}, got ", json.dump()));
}

absl::Status Pattern::ForEachMatch(std::string_view text,
                                   absl::FunctionRef<absl::Status(size_t, size_t)> on_match) const {
  if (regex_ != nullptr) return regex_->ForEachMatch(text, on_match);
  if (literal_.empty()) return absl::OkStatus();  // an empty literal never splits anything
  size_t pos = 0;
  while ((pos = text.find(literal_, pos)) != std::string_view::npos) {
    absl::Status status = on_match(pos, pos + literal_.size());
    if (!status.ok()) return status;
    pos += literal_.size();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Pattern::ReplaceAll(std::string_view text, std::string_view content) const {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  absl::Status status = ForEachMatch(text, [&](size_t start, size_t end) {
    out.append(text.data() + copied, start - copied);
    out.append(content);
    copied = end;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  out.append(text.data() + copied, text.size() - copied);
  return out;
}

}  // namespace tessera::tok
