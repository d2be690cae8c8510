#include "common/tokenizer/bpe_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/tokenizer/utf8.h"

namespace tessera::tok {

// Word -> ids for words seen before. Bounded (it stops growing when full, like Hugging Face's cache) and split into
// independently locked shards so that concurrent Encode calls rarely contend.
class BpeModel::WordCache {
 public:
  static constexpr size_t kShards = 32;
  static constexpr size_t kCapacityPerShard = 1024;
  static constexpr size_t kMaxWordBytes = 64;

  bool Lookup(std::string_view word, std::vector<int32_t>* ids) {
    if (word.size() > kMaxWordBytes) return false;
    const size_t hash = StringViewHash()(word);
    Shard& shard = shards_[hash % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(word);
    if (it == shard.map.end()) return false;
    ids->insert(ids->end(), it->second.begin(), it->second.end());
    return true;
  }

  void Insert(std::string_view word, const int32_t* ids, size_t count) {
    if (word.size() > kMaxWordBytes) return;
    const size_t hash = StringViewHash()(word);
    Shard& shard = shards_[hash % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.map.size() >= kCapacityPerShard) return;
    shard.map.try_emplace(word, ids, ids + count);
  }

 private:
  struct Shard {
    std::mutex mu;
    StringMap<absl::InlinedVector<int32_t, 4>> map;
  };
  std::array<Shard, kShards> shards_;
};

BpeModel::BpeModel() : cache_(std::make_unique<WordCache>()) { byte_fallback_ids_.fill(-1); }
BpeModel::~BpeModel() = default;

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& model, TokenizerJson* collected) {
  if (!model.is_object()) return absl::InvalidArgumentError("model: expected an object");
  std::string type = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "";
  if (type.empty() && (model.contains("merges") || (collected != nullptr && collected->has_merges))) {
    type = "BPE";  // old files omit the type
  }
  if (type != "BPE") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported model type '", type, "' (supported: BPE)"));
  }

  TokenizerJson from_tree;
  if (collected == nullptr) collected = &from_tree;
  if (!collected->has_vocab) {
    if (!model.contains("vocab") || !model["vocab"].is_object()) {
      return absl::InvalidArgumentError("model.vocab: expected an object of token -> id");
    }
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
      if (!it.value().is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat("model.vocab['", it.key(), "']: id is not an integer"));
      }
      collected->vocab.emplace_back(it.key(), it.value().get<int64_t>());
    }
  }
  if (!collected->has_merges && model.contains("merges") && !model["merges"].is_null()) {
    if (!model["merges"].is_array()) return absl::InvalidArgumentError("model.merges: expected an array");
    for (const auto& merge : model["merges"]) {
      if (merge.is_string()) {
        const std::string& line = merge.get_ref<const std::string&>();
        const size_t space = line.find(' ');
        const bool malformed = space == std::string::npos || line.find(' ', space + 1) != std::string::npos;
        collected->merges.emplace_back(malformed ? line : line.substr(0, space),
                                       malformed ? "" : line.substr(space + 1));
        collected->merge_is_malformed.push_back(malformed);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        collected->merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
        collected->merge_is_malformed.push_back(false);
      } else {
        collected->merges.emplace_back(merge.dump(), "");
        collected->merge_is_malformed.push_back(true);
      }
    }
  }

  std::unique_ptr<BpeModel> bpe(new BpeModel());
  bpe->vocab_.reserve(collected->vocab.size());
  int64_t max_id = -1;
  for (auto& [token, id] : collected->vocab) {
    if (id < 0 || id > INT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("model.vocab['", token, "']: id ", id, " out of range"));
    }
    max_id = std::max(max_id, id);
    bpe->vocab_[std::move(token)] = static_cast<int32_t>(id);
  }
  collected->vocab.clear();
  if (max_id >= static_cast<int64_t>(bpe->vocab_.size()) * 4 + 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.vocab: ids are too sparse (max id ", max_id, " for ", bpe->vocab_.size(), " tokens)"));
  }
  bpe->id_to_token_.assign(max_id + 1, std::string());
  bpe->id_present_.assign(max_id + 1, false);
  bpe->small_char_ids_.assign(0x800, -1);
  for (const auto& [token, id] : bpe->vocab_) {
    bpe->id_to_token_[id] = token;
    bpe->id_present_[id] = true;
    if (!token.empty() && ValidSequenceLength(token, 0) == token.size()) {
      size_t len;
      const char32_t cp = DecodeValid(token, 0, &len);
      if (cp < 0x800) {
        bpe->small_char_ids_[cp] = id;
      } else {
        bpe->large_char_ids_[cp] = id;
      }
    }
    if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
      int value = 0;
      bool ok = true;
      for (int i = 3; i < 5; ++i) {
        const char c = token[i];
        value *= 16;
        if (c >= '0' && c <= '9') {
          value += c - '0';
        } else if (c >= 'A' && c <= 'F') {
          value += c - 'A' + 10;
        } else {
          ok = false;
        }
      }
      if (ok) bpe->byte_fallback_ids_[value] = id;
    }
  }

  auto optional_string = [&](const char* key) {
    return model.contains(key) && model[key].is_string() ? model[key].get<std::string>() : std::string();
  };
  bpe->continuing_subword_prefix_ = optional_string("continuing_subword_prefix");
  bpe->end_of_word_suffix_ = optional_string("end_of_word_suffix");
  bpe->byte_fallback_ = model.value("byte_fallback", false);
  bpe->fuse_unk_ = model.value("fuse_unk", false);
  bpe->ignore_merges_ = model.value("ignore_merges", false);
  if (const std::string unk = optional_string("unk_token"); !unk.empty()) {
    auto it = bpe->vocab_.find(unk);
    if (it == bpe->vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("model.unk_token '", unk, "' is not in the vocabulary"));
    }
    bpe->unk_id_ = it->second;
  }

  bpe->merges_.reserve(collected->merges.size());
  const std::string& prefix = bpe->continuing_subword_prefix_;
  std::string merged;
  for (size_t rank = 0; rank < collected->merges.size(); ++rank) {
    const auto& [left, right] = collected->merges[rank];
    if (collected->merge_is_malformed[rank]) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.merges[", rank, "]: expected \"left right\" or [left, right], got ", left));
    }
    merged = left;
    const bool prefixed = !prefix.empty() && right.compare(0, prefix.size(), prefix) == 0;
    merged.append(right, prefixed ? prefix.size() : 0);
    auto l = bpe->vocab_.find(left), r = bpe->vocab_.find(right), m = bpe->vocab_.find(merged);
    if (l == bpe->vocab_.end() || r == bpe->vocab_.end() || m == bpe->vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("model.merges[", rank, "]: \"", left, "\" + \"", right,
                                                     "\" refers to a token missing from the vocabulary"));
    }
    const uint64_t key =
        (static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) | static_cast<uint32_t>(r->second);
    // A repeated pair keeps its last rank, as Hugging Face's merge map does.
    bpe->merges_.insert_or_assign(key, MergeResult{static_cast<int32_t>(rank), m->second});
  }
  collected->merges.clear();
  return bpe;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(id_to_token_.size()) || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

int32_t BpeModel::CharId(std::string_view ch, char32_t cp, bool first, bool last) const {
  if (continuing_subword_prefix_.empty() && end_of_word_suffix_.empty()) {
    if (cp < 0x800) return small_char_ids_[cp];
    auto it = large_char_ids_.find(cp);
    return it == large_char_ids_.end() ? -1 : it->second;
  }
  std::string s;
  if (!first) s = continuing_subword_prefix_;
  s.append(ch);
  if (last) s.append(end_of_word_suffix_);
  auto it = vocab_.find(s);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (cache_->Lookup(word, ids)) return;
  const size_t before = ids->size();
  MergeWord(word, ids);
  cache_->Insert(word, ids->data() + before, ids->size() - before);
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  uint32_t length;  // 0 once merged into its left neighbour
};

struct MergeCandidate {
  int32_t rank;
  int32_t position;
  int32_t new_id;
};

// Heap order: the lowest rank first, then the leftmost position (the order Hugging Face's BPE applies merges in).
struct LaterMerge {
  bool operator()(const MergeCandidate& a, const MergeCandidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
  }
};

}  // namespace

void BpeModel::InitialSymbols(std::string_view word, std::vector<int32_t>* ids, std::vector<uint32_t>* lengths) const {
  std::optional<std::pair<int32_t, uint32_t>> pending_unk;
  auto flush_unk = [&] {
    if (pending_unk) {
      ids->push_back(pending_unk->first);
      lengths->push_back(pending_unk->second);
      pending_unk.reset();
    }
  };
  size_t pos = 0;
  while (pos < word.size()) {
    size_t len;
    const char32_t cp = DecodeValid(word, pos, &len);
    const std::string_view ch = word.substr(pos, len);
    const bool first = pos == 0;
    const bool last = pos + len == word.size();
    pos += len;
    const int32_t id = CharId(ch, cp, first, last);
    if (id >= 0) {
      flush_unk();
      ids->push_back(id);
      lengths->push_back(static_cast<uint32_t>(len));
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (char c : ch) all_bytes = all_bytes && byte_fallback_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all_bytes) {
        flush_unk();
        for (char c : ch) {
          ids->push_back(byte_fallback_ids_[static_cast<uint8_t>(c)]);
          lengths->push_back(1);
        }
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && fuse_unk_) {
        pending_unk->second += static_cast<uint32_t>(len);
      } else {
        flush_unk();
        pending_unk = std::make_pair(*unk_id_, static_cast<uint32_t>(len));
      }
    }
    // Without byte fallback or an unknown token the character is dropped, as in Hugging Face tokenizers.
  }
  flush_unk();
}

void BpeModel::MergeWord(std::string_view word, std::vector<int32_t>* ids) const {
  thread_local std::vector<int32_t> initial_ids;
  thread_local std::vector<uint32_t> initial_lengths;
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<MergeCandidate> heap;
  initial_ids.clear();
  initial_lengths.clear();
  InitialSymbols(word, &initial_ids, &initial_lengths);
  const int32_t n = static_cast<int32_t>(initial_ids.size());
  if (n <= 1) {
    ids->insert(ids->end(), initial_ids.begin(), initial_ids.end());
    return;
  }
  symbols.clear();
  heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({initial_ids[i], i - 1, i + 1 < n ? i + 1 : -1, initial_lengths[i]});
  }
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const MergeResult* m = FindMerge(symbols[i].id, symbols[i + 1].id)) heap.push_back({m->rank, i, m->new_id});
  }
  std::make_heap(heap.begin(), heap.end(), LaterMerge());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LaterMerge());
    const MergeCandidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.position];
    if (left.length == 0 || left.next < 0) continue;
    const int32_t right_pos = left.next;
    const Symbol right = symbols[right_pos];
    // Skip stale candidates: the pair at this position changed since the candidate was queued.
    const MergeResult* current = FindMerge(left.id, right.id);
    if (current == nullptr || current->new_id != top.new_id) continue;
    left.id = top.new_id;
    left.length += right.length;
    left.next = right.next;
    symbols[right_pos].length = 0;
    if (right.next >= 0) symbols[right.next].prev = top.position;
    if (left.prev >= 0) {
      if (const MergeResult* m = FindMerge(symbols[left.prev].id, left.id)) {
        heap.push_back({m->rank, left.prev, m->new_id});
        std::push_heap(heap.begin(), heap.end(), LaterMerge());
      }
    }
    if (left.next >= 0) {
      if (const MergeResult* m = FindMerge(left.id, symbols[left.next].id)) {
        heap.push_back({m->rank, top.position, m->new_id});
        std::push_heap(heap.begin(), heap.end(), LaterMerge());
      }
    }
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace tessera::tok
