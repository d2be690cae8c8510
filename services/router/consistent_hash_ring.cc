#include "services/router/consistent_hash_ring.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera::router {

uint64_t StableHash64(std::string_view data) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  // FNV alone clusters similar short strings ("w#1", "w#2"); the splitmix64 finalizer spreads them over the ring.
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return hash;
}

ConsistentHashRing::ConsistentHashRing(const std::vector<std::string>& members, int virtual_nodes)
    : members_(members) {
  const int nodes = std::max(1, virtual_nodes);
  points_.reserve(members_.size() * static_cast<size_t>(nodes));
  for (uint32_t m = 0; m < members_.size(); ++m) {
    for (int v = 0; v < nodes; ++v) points_.emplace_back(StableHash64(absl::StrCat(members_[m], "#", v)), m);
  }
  std::sort(points_.begin(), points_.end());
}

size_t ConsistentHashRing::Owner(std::string_view key) const {
  const uint64_t position = StableHash64(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(position, uint32_t{0}));
  if (it == points_.end()) it = points_.begin();  // the circle wraps around
  return it->second;
}

}  // namespace tessera::router
