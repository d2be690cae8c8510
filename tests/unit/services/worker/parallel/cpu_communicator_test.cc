// Tensor-parallel collectives between CPU ranks: threads of this process stand in for worker processes, each with
// its own TCP link to the leader, exactly as separate processes would have.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/dtype.h"
#include "kernels/backend.h"
#include "services/worker/parallel/communicator.h"
#include "services/worker/parallel/tcp_group.h"

namespace tessera::parallel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// Starts a group of `world_size` ranks on loopback and runs `body(rank, group)` on each in its own thread.
template <typename Body>
void RunGroup(int world_size, Body body, milliseconds peer_timeout = seconds(30)) {
  auto leader = TcpGroup::Listen("127.0.0.1", 0, world_size, peer_timeout);
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string address = (*leader)->address();
  std::vector<std::thread> threads;
  for (int rank = 1; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      auto follower = TcpGroup::Connect(address, rank, world_size, steady_clock::now() + seconds(30), peer_timeout);
      ASSERT_TRUE(follower.ok()) << follower.status();
      body(rank, **follower);
    });
  }
  ASSERT_TRUE((*leader)->AcceptFollowers(steady_clock::now() + seconds(30)).ok());
  body(0, **leader);
  for (auto& t : threads) t.join();
}

TEST(TcpGroupTest, BroadcastReachesEveryFollower) {
  RunGroup(4, [](int rank, TcpGroup& group) {
    for (int step = 0; step < 3; ++step) {
      std::string message = rank == 0 ? "step " + std::to_string(step) : "";
      ASSERT_TRUE(group.Broadcast(message).ok());
      EXPECT_EQ(message, "step " + std::to_string(step));
    }
  });
}

TEST(CpuCommunicatorTest, AllReduceSumsFloatAndBf16Tensors) {
  RunGroup(3, [](int rank, TcpGroup& group) {
    auto backend = kernels::CreateBackend("cpu");
    ASSERT_TRUE(backend.ok());
    auto comm = CreateCpuCommunicator(&group, backend->get());
    ASSERT_TRUE(comm.ok()) << comm.status();
    std::vector<float> values(1000);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * (rank + 1);
    kernels::Tensor tensor = kernels::Tensor::Make2D(values.data(), DType::kF32, 10, 100);
    ASSERT_TRUE((*comm)->AllReduceSum(tensor).ok());
    for (size_t i = 0; i < values.size(); ++i) EXPECT_FLOAT_EQ(values[i], static_cast<float>(i) * 6) << i;

    std::vector<uint16_t> halves(7);
    for (auto& h : halves) h = FloatToBF16(0.5f * (rank + 1));
    kernels::Tensor bf16 = kernels::Tensor::Make1D(halves.data(), DType::kBF16, 7);
    ASSERT_TRUE((*comm)->AllReduceSum(bf16).ok());
    for (uint16_t h : halves) EXPECT_FLOAT_EQ(BF16ToFloat(h), 3.0f);
  });
}

TEST(CpuCommunicatorTest, AllGatherConcatenatesInRankOrder) {
  RunGroup(4, [](int rank, TcpGroup& group) {
    auto backend = kernels::CreateBackend("cpu");
    ASSERT_TRUE(backend.ok());
    auto comm = CreateCpuCommunicator(&group, backend->get());
    ASSERT_TRUE(comm.ok());
    std::vector<float> mine = {static_cast<float>(rank), static_cast<float>(rank) + 0.5f};
    std::vector<float> all(8, -1.0f);
    kernels::Tensor in = kernels::Tensor::Make1D(mine.data(), DType::kF32, 2);
    kernels::Tensor out = kernels::Tensor::Make1D(all.data(), DType::kF32, 8);
    ASSERT_TRUE((*comm)->AllGather(in, out).ok());
    EXPECT_THAT(all, ::testing::ElementsAre(0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5));
  });
}

TEST(TcpGroupTest, LeaderReportsAFollowerThatDiesInsteadOfHanging) {
  RunGroup(2, [](int rank, TcpGroup& group) {
    if (rank == 1) {
      group.Close();  // the follower process ends
      return;
    }
    std::vector<float> values(16, 1.0f);
    const absl::Status status = group.AllReduceSumF32(values.data(), values.size());
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("rank 1"));
    // The group stays broken: later exchanges fail at once.
    std::string step = "next";
    EXPECT_FALSE(group.Broadcast(step).ok());
  });
}

TEST(TcpGroupTest, LeaderTimesOutOnASilentFollower) {
  std::atomic<bool> leader_done{false};
  RunGroup(
      2,
      [&](int rank, TcpGroup& group) {
        if (rank == 1) {
          while (!leader_done) std::this_thread::sleep_for(milliseconds(10));  // alive but never answers
          return;
        }
        std::vector<float> values(4, 1.0f);
        const absl::Status status = group.AllReduceSumF32(values.data(), values.size());
        leader_done = true;
        EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
      },
      milliseconds(300));
}

TEST(TcpGroupTest, RefusesAFollowerWithTheWrongGroupSize) {
  auto leader = TcpGroup::Listen("127.0.0.1", 0, 2);
  ASSERT_TRUE(leader.ok());
  const std::string address = (*leader)->address();
  std::thread wrong([&] {
    auto follower = TcpGroup::Connect(address, 1, 3, steady_clock::now() + seconds(30));
    EXPECT_EQ(follower.status().code(), absl::StatusCode::kFailedPrecondition) << follower.status();
  });
  // Only the mismatched follower comes, so the leader's wait ends at its deadline.
  EXPECT_EQ((*leader)->AcceptFollowers(steady_clock::now() + seconds(3)).code(), absl::StatusCode::kDeadlineExceeded);
  wrong.join();
}

TEST(TcpGroupTest, RejectsBadRanksAndAddresses) {
  EXPECT_FALSE(TcpGroup::Connect("127.0.0.1:1", 0, 2, steady_clock::now()).ok());
  EXPECT_FALSE(TcpGroup::Connect("127.0.0.1:1", 2, 2, steady_clock::now()).ok());
  EXPECT_EQ(TcpGroup::Connect("no-port", 1, 2, steady_clock::now()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::parallel
