#include "common/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace tessera::metrics {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Beyond 2^53 not every integer is representable, so plain digits would suggest a precision the value lacks.
constexpr double kMaxPlainInteger = 9007199254740992.0;

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) <= kMaxPlainInteger) {
    if (value == 0) return "0";  // also turns -0 into 0
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    return buffer;
  }
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) {  // cannot happen for a finite double in 64 bytes; keep a parseable fallback anyway
    std::snprintf(buffer, sizeof(buffer), "%.17g", value);
    return buffer;
  }
  return std::string(buffer, end);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status ValidateMetricName(std::string_view name) {
  bool valid = !name.empty() && (IsAsciiLetter(name[0]) || name[0] == '_' || name[0] == ':');
  for (size_t i = 1; valid && i < name.size(); ++i) {
    char c = name[i];
    valid = IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_' || c == ':';
  }
  if (!valid) {
    return absl::InvalidArgumentError("invalid metric name '" + std::string(name) +
                                      "': it must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelName(std::string_view name) {
  bool valid = !name.empty() && (IsAsciiLetter(name[0]) || name[0] == '_');
  for (size_t i = 1; valid && i < name.size(); ++i) {
    char c = name[i];
    valid = IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_';
  }
  if (!valid) {
    return absl::InvalidArgumentError("invalid label name '" + std::string(name) +
                                      "': it must match [a-zA-Z_][a-zA-Z0-9_]*");
  }
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') {
    return absl::InvalidArgumentError("invalid label name '" + std::string(name) +
                                      "': names starting with '__' are reserved for Prometheus");
  }
  return absl::OkStatus();
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char lead = static_cast<unsigned char>(text[i]);
    int continuation;
    uint32_t code_point;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      continuation = 1;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      continuation = 2;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      continuation = 3;
      code_point = lead & 0x07;
    } else {
      return false;
    }
    if (i + continuation >= text.size()) return false;  // truncated sequence
    for (int k = 1; k <= continuation; ++k) {
      unsigned char byte = static_cast<unsigned char>(text[i + k]);
      if ((byte & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (byte & 0x3F);
    }
    // Overlong encodings, UTF-16 surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[continuation] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += continuation + 1;
  }
  return true;
}

}  // namespace tessera::metrics
