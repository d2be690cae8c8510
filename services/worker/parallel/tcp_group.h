// The host-side links of one tensor-parallel group: every follower holds one TCP connection to the leader (rank 0).
// Step inputs travel over it from the leader, and the CPU communicator reduces tensors through it. A peer that
// dies or stops answering turns into an error on the next exchange, so the leader never waits forever.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::parallel {

class TcpGroup {
 public:
  // How long the leader waits for a follower's part of an exchange before the group is declared broken.
  static constexpr std::chrono::seconds kDefaultPeerTimeout{60};

  // Leader side, step 1: binds `host:port` (port 0 picks a free one) so that followers can be told the address.
  static absl::StatusOr<std::unique_ptr<TcpGroup>> Listen(const std::string& host, int port, int world_size,
                                                          std::chrono::milliseconds peer_timeout = kDefaultPeerTimeout);
  // Follower side: connects to the leader (retrying until `connect_deadline`) and announces `rank`.
  static absl::StatusOr<std::unique_ptr<TcpGroup>> Connect(const std::string& leader_address, int rank, int world_size,
                                                           std::chrono::steady_clock::time_point connect_deadline,
                                                           std::chrono::milliseconds peer_timeout = kDefaultPeerTimeout);
  ~TcpGroup();
  TcpGroup(const TcpGroup&) = delete;
  TcpGroup& operator=(const TcpGroup&) = delete;

  // Leader side, step 2: waits until every follower has connected (or the deadline passes; a later call goes on
  // from the followers already connected).
  absl::Status AcceptFollowers(std::chrono::steady_clock::time_point deadline);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  // host:port followers connect to (leader only).
  const std::string& address() const { return address_; }

  // Leader: sends `message` to every follower. Follower: receives it into `message`, waiting as long as the leader
  // is silent (an idle server sends no steps); the leader closing the group is an error.
  absl::Status Broadcast(std::string& message);

  // Sums `count` elements in place over all ranks, in rank order so every run gives the same bits.
  absl::Status AllReduceSumF32(float* data, size_t count);
  // Every rank's `bytes` bytes, concatenated in rank order into `out` (world_size * bytes) on every rank.
  absl::Status AllGather(const void* data, size_t bytes, void* out);

  // Closes every connection; peers see an error on their next exchange.
  void Close();

 private:
  TcpGroup(int rank, int world_size, std::chrono::milliseconds peer_timeout)
      : rank_(rank), world_size_(world_size), peer_timeout_(peer_timeout) {}

  absl::Status SendAll(int peer_rank, const void* data, size_t bytes);
  // `wait_forever` is for a follower idling between steps; everything else is bounded by the peer timeout.
  absl::Status ReceiveAll(int peer_rank, void* data, size_t bytes, bool wait_forever = false);
  absl::Status Fail(absl::Status status);

  int rank_;
  int world_size_;
  std::chrono::milliseconds peer_timeout_;
  int listen_fd_ = -1;
  std::string address_;
  // Leader: fds_[r] is follower r's connection (fds_[0] unused). Follower: fds_[0] is the leader's.
  std::vector<int> fds_;
  absl::Status broken_;
  std::vector<float> scratch_;
};

}  // namespace tessera::parallel
