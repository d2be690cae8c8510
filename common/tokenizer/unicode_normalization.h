// Unicode normalization forms (NFC, NFD, NFKC, NFKD) and full lowercase mapping, built on the generated tables in
// unicode_tables.cc (see gen_unicode_tables.py for the Unicode version), for the tokenizer's normalizers.
#pragma once

#include <string>
#include <string_view>

namespace tessera::tok {

enum class NormalizationForm { kNFC, kNFD, kNFKC, kNFKD };

// Returns the normalized form of valid UTF-8 text. Text that is already normal is detected quickly and copied as is.
std::string NormalizeUnicode(std::string_view text, NormalizationForm form);

// True when text certainly needs no change under form (quick check; false means "maybe").
bool IsQuickNormalized(std::string_view text, NormalizationForm form);

// Full lowercase mapping (Rust's str::to_lowercase, without the context-dependent final sigma rule).
std::string ToLowercase(std::string_view text);

const char* UnicodeDataVersion();

}  // namespace tessera::tok
