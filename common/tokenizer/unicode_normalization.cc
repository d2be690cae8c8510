#include "common/tokenizer/unicode_normalization.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/tokenizer/unicode_tables.h"
#include "common/tokenizer/utf8.h"

namespace tessera::tok {
namespace {

namespace ud = unicode_data;

constexpr char32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161, kHangulTBase = 0x11A7;
constexpr int kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr int kHangulNCount = kHangulVCount * kHangulTCount, kHangulSCount = kHangulLCount * kHangulNCount;

// Lookup structures derived once from the generated arrays.
struct Tables {
  absl::flat_hash_map<char32_t, const ud::Decomposition*> decompositions;
  absl::flat_hash_map<uint64_t, char32_t> compositions;  // (first << 32 | second) -> composite
  absl::flat_hash_map<char32_t, const ud::CaseMapping*> lowercase;

  Tables() {
    decompositions.reserve(ud::kNumDecompositions);
    for (int i = 0; i < ud::kNumDecompositions; ++i) {
      const ud::Decomposition& d = ud::kDecompositions[i];
      decompositions[d.code_point] = &d;
      if (d.is_primary_composite) {
        const char32_t* parts = ud::kDecompositionData + d.offset;
        compositions[(static_cast<uint64_t>(parts[0]) << 32) | parts[1]] = d.code_point;
      }
    }
    lowercase.reserve(ud::kNumLowercase);
    for (int i = 0; i < ud::kNumLowercase; ++i) lowercase[ud::kLowercase[i].code_point] = &ud::kLowercase[i];
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

template <typename Range>
bool InRanges(const Range* ranges, int count, char32_t cp) {
  const Range* end = ranges + count;
  const Range* it = std::upper_bound(ranges, end, cp, [](char32_t v, const Range& r) { return v < r.first; });
  if (it == ranges) return false;
  --it;
  return cp >= it->first && cp <= it->last;
}

uint8_t CombiningClass(char32_t cp) {
  if (cp < 0x300) return 0;
  const ud::CombiningClassRange* begin = ud::kCombiningClassRanges;
  const ud::CombiningClassRange* end = begin + ud::kNumCombiningClassRanges;
  const auto* it =
      std::upper_bound(begin, end, cp, [](char32_t v, const ud::CombiningClassRange& r) { return v < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

bool IsUnsafe(char32_t cp, NormalizationForm form) {
  if (cp < 0xA0) return false;
  switch (form) {
    case NormalizationForm::kNFC:
      return InRanges(ud::kNFCUnsafe, ud::kNumNFCUnsafe, cp);
    case NormalizationForm::kNFD:
      return InRanges(ud::kNFDUnsafe, ud::kNumNFDUnsafe, cp);
    case NormalizationForm::kNFKC:
      return InRanges(ud::kNFKCUnsafe, ud::kNumNFKCUnsafe, cp);
    case NormalizationForm::kNFKD:
      return InRanges(ud::kNFKDUnsafe, ud::kNumNFKDUnsafe, cp);
  }
  return true;
}

void Decompose(char32_t cp, bool compatibility, const Tables& tables, std::vector<char32_t>* out) {
  if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
    const int s_index = static_cast<int>(cp - kHangulSBase);
    out->push_back(kHangulLBase + s_index / kHangulNCount);
    out->push_back(kHangulVBase + (s_index % kHangulNCount) / kHangulTCount);
    if (s_index % kHangulTCount != 0) out->push_back(kHangulTBase + s_index % kHangulTCount);
    return;
  }
  auto it = tables.decompositions.find(cp);
  if (it == tables.decompositions.end() || (it->second->is_compatibility && !compatibility)) {
    out->push_back(cp);
    return;
  }
  const ud::Decomposition& d = *it->second;
  for (int i = 0; i < d.length; ++i) Decompose(ud::kDecompositionData[d.offset + i], compatibility, tables, out);
}

// Canonical ordering: a stable sort of each run of non-starters by combining class.
void CanonicalOrder(std::vector<char32_t>* cps) {
  const size_t n = cps->size();
  size_t i = 0;
  while (i < n) {
    if (CombiningClass((*cps)[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < n && CombiningClass((*cps)[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(cps->begin() + i, cps->begin() + j,
                       [](char32_t a, char32_t b) { return CombiningClass(a) < CombiningClass(b); });
    }
    i = j;
  }
}

char32_t ComposePair(char32_t first, char32_t second, const Tables& tables) {
  if (first >= kHangulLBase && first < kHangulLBase + kHangulLCount && second >= kHangulVBase &&
      second < kHangulVBase + kHangulVCount) {
    return kHangulSBase + ((first - kHangulLBase) * kHangulVCount + (second - kHangulVBase)) * kHangulTCount;
  }
  if (first >= kHangulSBase && first < kHangulSBase + kHangulSCount && (first - kHangulSBase) % kHangulTCount == 0 &&
      second > kHangulTBase && second < kHangulTBase + kHangulTCount) {
    return first + (second - kHangulTBase);
  }
  auto it = tables.compositions.find((static_cast<uint64_t>(first) << 32) | second);
  return it == tables.compositions.end() ? 0 : it->second;
}

void Compose(std::vector<char32_t>* cps, const Tables& tables) {
  if (cps->empty()) return;
  std::vector<char32_t>& v = *cps;
  size_t starter = 0;
  // A leading non-starter has no starter to combine with; 256 blocks every composition until a starter appears.
  int last_class = CombiningClass(v[0]) == 0 ? 0 : 256;
  size_t write = 1;
  for (size_t read = 1; read < v.size(); ++read) {
    const char32_t cp = v[read];
    const int cls = CombiningClass(cp);
    if (last_class < cls || last_class == 0) {
      if (const char32_t composite = ComposePair(v[starter], cp, tables); composite != 0) {
        v[starter] = composite;
        continue;
      }
    }
    if (cls == 0) starter = write;
    last_class = cls;
    v[write++] = cp;
  }
  v.resize(write);
}

// Fully normalizes one stretch of text (decompose, reorder, compose) and appends it to out.
void NormalizeSpan(std::string_view text, NormalizationForm form, std::vector<char32_t>* scratch, std::string* out) {
  const Tables& tables = GetTables();
  const bool compatibility = form == NormalizationForm::kNFKC || form == NormalizationForm::kNFKD;
  const bool compose = form == NormalizationForm::kNFC || form == NormalizationForm::kNFKC;
  scratch->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len;
    const char32_t cp = DecodeValid(text, pos, &len);
    Decompose(cp, compatibility, tables, scratch);
    pos += len;
  }
  CanonicalOrder(scratch);
  if (compose) Compose(scratch, tables);
  for (char32_t cp : *scratch) AppendUtf8(cp, out);
}

}  // namespace

bool IsQuickNormalized(std::string_view text, NormalizationForm form) {
  size_t pos = 0;
  while (pos < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      ++pos;
      continue;
    }
    size_t len;
    const char32_t cp = DecodeValid(text, pos, &len);
    if (IsUnsafe(cp, form)) return false;
    pos += len;
  }
  return true;
}

std::string NormalizeUnicode(std::string_view text, NormalizationForm form) {
  // Only the stretches around "unsafe" characters change. A safe character neither combines with what precedes it
  // nor is reordered, so each stretch runs from the character before the first unsafe one (a starter that may
  // absorb following marks) up to the next safe character; everything else is copied as is.
  std::string out;
  out.reserve(text.size() + 8);
  std::vector<char32_t> scratch;
  size_t copied = 0;
  size_t previous_start = 0;  // start of the character before pos
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      previous_start = pos++;
      continue;
    }
    size_t len;
    const char32_t cp = DecodeValid(text, pos, &len);
    if (!IsUnsafe(cp, form)) {
      previous_start = pos;
      pos += len;
      continue;
    }
    const size_t span_start = pos == copied ? pos : previous_start;
    size_t span_end = pos + len;
    while (span_end < text.size()) {
      size_t next_len;
      const char32_t next = DecodeValid(text, span_end, &next_len);
      if (!IsUnsafe(next, form)) break;
      span_end += next_len;
    }
    out.append(text.data() + copied, span_start - copied);
    NormalizeSpan(text.substr(span_start, span_end - span_start), form, &scratch, &out);
    copied = span_end;
    previous_start = span_end;
    pos = span_end;
  }
  out.append(text.data() + copied, text.size() - copied);
  return out;
}

std::string ToLowercase(std::string_view text) {
  const Tables& tables = GetTables();
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++pos;
      continue;
    }
    size_t len;
    const char32_t cp = DecodeValid(text, pos, &len);
    auto it = tables.lowercase.find(cp);
    if (it == tables.lowercase.end()) {
      out.append(text.data() + pos, len);
    } else {
      for (int i = 0; i < it->second->length; ++i) AppendUtf8(ud::kLowercaseData[it->second->offset + i], &out);
    }
    pos += len;
  }
  return out;
}

const char* UnicodeDataVersion() { return ud::kUnicodeVersion; }

}  // namespace tessera::tok
