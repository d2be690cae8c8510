// Raw Unicode data tables (canonical combining classes, decompositions, lowercase mappings, quick-check sets) used by
// the tokenizer's normalizers. The data lives in the generated unicode_tables.cc; unicode_normalization.h wraps it.
#pragma once

#include <cstdint>

namespace tessera::tok::unicode_data {

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t combining_class;
};

struct Decomposition {
  char32_t code_point;
  uint16_t offset;  // into kDecompositionData
  uint8_t length;
  uint8_t is_compatibility;
  uint8_t is_primary_composite;  // canonical pair that NFC composes back
};

struct CaseMapping {
  char32_t code_point;
  uint16_t offset;  // into kLowercaseData
  uint8_t length;
};

struct CodePointRange {
  char32_t first;
  char32_t last;
};

extern const char kUnicodeVersion[];
extern const CombiningClassRange kCombiningClassRanges[];
extern const int kNumCombiningClassRanges;
extern const Decomposition kDecompositions[];
extern const int kNumDecompositions;
extern const char32_t kDecompositionData[];
extern const CaseMapping kLowercase[];
extern const int kNumLowercase;
extern const char32_t kLowercaseData[];
// Code points whose presence means a string may change under the form; a string with none of them is already normal.
extern const CodePointRange kNFCUnsafe[];
extern const int kNumNFCUnsafe;
extern const CodePointRange kNFDUnsafe[];
extern const int kNumNFDUnsafe;
extern const CodePointRange kNFKCUnsafe[];
extern const int kNumNFKCUnsafe;
extern const CodePointRange kNFKDUnsafe[];
extern const int kNumNFKDUnsafe;

}  // namespace tessera::tok::unicode_data
