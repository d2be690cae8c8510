// GPT-2 byte-level alphabet: every byte maps to one printable code point so that any byte string becomes a string of
// vocabulary characters, and back. Shared by the ByteLevel pre-tokenizer and decoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::tok {

class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& Get();

  // UTF-8 of the code point that stands for byte b.
  std::string_view Encode(uint8_t b) const { return {encoded_[b], encoded_length_[b]}; }
  // Appends the byte-level form of text.
  void EncodeTo(std::string_view text, std::string* out) const;
  // Byte that code point cp stands for, or -1 when cp is not in the alphabet.
  int Decode(char32_t cp) const { return cp < kMaxCodePoint ? decoded_[cp] : -1; }
  char32_t CodePoint(uint8_t b) const { return code_points_[b]; }

 private:
  ByteLevelAlphabet();
  static constexpr char32_t kMaxCodePoint = 324;
  char encoded_[256][2];
  uint8_t encoded_length_[256];
  char32_t code_points_[256];
  int16_t decoded_[kMaxCodePoint];
};

}  // namespace tessera::tok
