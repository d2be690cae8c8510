#include "common/tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace tessera::tok {

size_t ValidSequenceLength(std::string_view text, size_t pos) {
  const size_t n = text.size();
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) return 1;
  if (b0 < 0xC2) return 0;
  if (b0 < 0xE0) {
    if (pos + 1 >= n || (byte(pos + 1) & 0xC0) != 0x80) return 0;
    return 2;
  }
  if (b0 < 0xF0) {
    if (pos + 1 >= n) return 0;
    const unsigned char b1 = byte(pos + 1);
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    if (b1 < lo || b1 > hi) return 0;
    if (pos + 2 >= n || (byte(pos + 2) & 0xC0) != 0x80) return 0;
    return 3;
  }
  if (b0 < 0xF5) {
    if (pos + 1 >= n) return 0;
    const unsigned char b1 = byte(pos + 1);
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (b1 < lo || b1 > hi) return 0;
    if (pos + 2 >= n || (byte(pos + 2) & 0xC0) != 0x80) return 0;
    if (pos + 3 >= n || (byte(pos + 3) & 0xC0) != 0x80) return 0;
    return 4;
  }
  return 0;
}

char32_t DecodeValid(std::string_view text, size_t pos, size_t* length) {
  const auto byte = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
  const char32_t b0 = byte(pos);
  if (b0 < 0x80) {
    *length = 1;
    return b0;
  }
  if (b0 < 0xE0) {
    *length = 2;
    return ((b0 & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
  }
  if (b0 < 0xF0) {
    *length = 3;
    return ((b0 & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
  }
  *length = 4;
  return ((b0 & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) | ((byte(pos + 2) & 0x3F) << 6) | (byte(pos + 3) & 0x3F);
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII fast path: eight bytes at a time.
    while (pos + 8 <= text.size()) {
      uint64_t chunk;
      std::memcpy(&chunk, text.data() + pos, 8);
      if (chunk & 0x8080808080808080ULL) break;
      pos += 8;
    }
    if (pos >= text.size()) break;
    const size_t len = ValidSequenceLength(text, pos);
    if (len == 0) return false;
    pos += len;
  }
  return true;
}

// Length of the maximal prefix of an invalid sequence at pos that could start a valid one: Rust (and the Unicode
// "maximal subpart" practice) replaces that whole prefix with a single U+FFFD.
static size_t MaximalInvalidSubpart(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(pos);
  size_t needed;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 < 0xE0) {
    needed = 1;
  } else if (b0 >= 0xE0 && b0 < 0xF0) {
    needed = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 < 0xF5) {
    needed = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t len = 1;
  for (size_t k = 0; k < needed; ++k) {
    if (pos + len >= text.size()) break;
    const unsigned char b = byte(pos + len);
    const unsigned char l = k == 0 ? lo : 0x80;
    const unsigned char h = k == 0 ? hi : 0xBF;
    if (b < l || b > h) break;
    ++len;
  }
  return len;
}

std::string RepairUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t len = ValidSequenceLength(text, pos);
    if (len > 0) {
      out.append(text.data() + pos, len);
      pos += len;
    } else {
      out.append(kReplacementUtf8);
      pos += MaximalInvalidSubpart(text, pos);
    }
  }
  return out;
}

size_t IncompleteUtf8SuffixLength(std::string_view text) {
  // Look back at most three bytes for a lead byte whose sequence runs past the end.
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char b = static_cast<unsigned char>(text[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte, keep looking for the lead
    size_t expected = 0;
    if (b >= 0xC2 && b < 0xE0)
      expected = 2;
    else if (b >= 0xE0 && b < 0xF0)
      expected = 3;
    else if (b >= 0xF0 && b < 0xF5)
      expected = 4;
    if (expected > back && MaximalInvalidSubpart(text, n - back) == back) return back;
    return 0;
  }
  return 0;
}

bool IsUnicodeWhitespace(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t CountCodePoints(std::string_view text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

size_t ByteOffsetOfCodePoint(std::string_view text, size_t char_index) {
  size_t seen = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (seen == char_index) return i;
      ++seen;
    }
  }
  return text.size();
}

}  // namespace tessera::tok
