// A consistent-hash ring with virtual nodes: every member owns `virtual_nodes` points on a 64-bit circle and a key
// belongs to the first point at or after its hash. When a member joins or leaves, only the keys of the points it
// gains or loses move; every other key keeps its owner.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::router {

// A stable 64-bit hash (FNV-1a with a final avalanche), the same in every process and on every run, so that
// routers started separately agree on the ring.
uint64_t StableHash64(std::string_view data);

class ConsistentHashRing {
 public:
  // `members` must be distinct; an empty list makes an empty ring.
  ConsistentHashRing(const std::vector<std::string>& members, int virtual_nodes);

  bool empty() const { return points_.empty(); }
  const std::vector<std::string>& members() const { return members_; }
  // The index into members() of the key's owner. The ring must not be empty.
  size_t Owner(std::string_view key) const;

 private:
  std::vector<std::string> members_;
  std::vector<std::pair<uint64_t, uint32_t>> points_;  // (position, member index), sorted by position
};

}  // namespace tessera::router
