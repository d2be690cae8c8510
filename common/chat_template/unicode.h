// UTF-8 helpers for the chat-template interpreter: Python string operations (len, slicing, strip, case changes)
// work on code points, while the interpreter stores strings as UTF-8 bytes.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace tessera::jinja {

// Decodes the code point at *pos and advances past it; malformed bytes decode to U+FFFD one byte at a time.
char32_t DecodeUtf8(absl::string_view s, size_t* pos);
void AppendUtf8(char32_t cp, std::string* out);
std::vector<char32_t> ToCodePoints(absl::string_view s);
std::string FromCodePoints(const std::vector<char32_t>& cps, size_t begin, size_t end);
bool IsAscii(absl::string_view s);
// Number of code points.
size_t CodePointCount(absl::string_view s);

// Python str.isspace() for one code point.
bool IsPythonSpace(char32_t cp);
// Simple (one-to-one) case mappings for Latin, Greek and Cyrillic; other scripts have no case.
char32_t ToUpper(char32_t cp);
char32_t ToLower(char32_t cp);
bool IsCased(char32_t cp);
bool IsAlpha(char32_t cp);
bool IsDigit(char32_t cp);

std::string Upper(absl::string_view s);
std::string Lower(absl::string_view s);

}  // namespace tessera::jinja
