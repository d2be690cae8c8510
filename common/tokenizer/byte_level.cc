#include "common/tokenizer/byte_level.h"

#include "common/tokenizer/utf8.h"

namespace tessera::tok {

const ByteLevelAlphabet& ByteLevelAlphabet::Get() {
  static const ByteLevelAlphabet* alphabet = new ByteLevelAlphabet();
  return *alphabet;
}

ByteLevelAlphabet::ByteLevelAlphabet() {
  for (auto& d : decoded_) d = -1;
  // Printable Latin-1 bytes stand for themselves; the rest take code points from 256 upwards in byte order.
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
    code_points_[b] = cp;
    decoded_[cp] = static_cast<int16_t>(b);
    std::string utf8;
    AppendUtf8(cp, &utf8);
    encoded_length_[b] = static_cast<uint8_t>(utf8.size());
    encoded_[b][0] = utf8[0];
    encoded_[b][1] = utf8.size() > 1 ? utf8[1] : 0;
  }
}

void ByteLevelAlphabet::EncodeTo(std::string_view text, std::string* out) const {
  out->reserve(out->size() + text.size() * 2);
  for (char c : text) {
    const uint8_t b = static_cast<uint8_t>(c);
    out->append(encoded_[b], encoded_length_[b]);
  }
}

}  // namespace tessera::tok
