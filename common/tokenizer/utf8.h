// UTF-8 helpers for the tokenizer: decoding code points, lossy repair of invalid input (the way Rust's
// String::from_utf8_lossy does it, so results match Hugging Face tokenizers) and Unicode White_Space.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::tok {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Length in bytes of the valid UTF-8 sequence starting at text[pos], or 0 when the bytes there are not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t ValidSequenceLength(std::string_view text, size_t pos);

// Decodes the code point at text[pos] of a string known to be valid UTF-8 and stores its byte length in *length.
char32_t DecodeValid(std::string_view text, size_t pos, size_t* length);

// Appends the UTF-8 encoding of code_point.
void AppendUtf8(char32_t code_point, std::string* out);

bool IsValidUtf8(std::string_view text);

// Replaces every maximal invalid subsequence with U+FFFD, exactly as Rust's String::from_utf8_lossy.
std::string RepairUtf8(std::string_view text);

// Number of bytes at the end of text that form an incomplete (but so far valid) UTF-8 sequence.
size_t IncompleteUtf8SuffixLength(std::string_view text);

// Unicode White_Space property (what Rust's char::is_whitespace tests).
bool IsUnicodeWhitespace(char32_t code_point);

// Number of code points in valid UTF-8 text.
size_t CountCodePoints(std::string_view text);

// Byte offset of the code point with index char_index (or text.size() when past the end).
size_t ByteOffsetOfCodePoint(std::string_view text, size_t char_index);

}  // namespace tessera::tok
