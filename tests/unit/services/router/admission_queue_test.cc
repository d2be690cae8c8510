#include "services/router/admission_queue.h"

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace tessera::router {
namespace {

class AdmissionQueueTest : public ::testing::Test {
 protected:
  // One worker of model "m" with room for one request at a time.
  void SetUp() override {
    WorkerRegistryOptions options;
    options.max_in_flight_per_worker = 1;
    registry_ = std::make_unique<WorkerRegistry>(options);
    registry_->AddWorker("w:1", WorkerSource::kStatic);
    v1::LoadReport report;
    report.set_model("m");
    registry_->RecordLoadReport("w:1", report);
    policy_ = *MakeRoutingPolicy(kLeastLoadPolicy);
  }

  std::unique_ptr<AdmissionQueue> Queue(int max_queued) {
    AdmissionOptions options;
    options.max_queued_requests = max_queued;
    options.cancel_poll_interval = absl::Milliseconds(10);
    return std::make_unique<AdmissionQueue>(registry_.get(), policy_.get(), options);
  }

  absl::StatusOr<AdmissionQueue::Admitted> Admit(AdmissionQueue& queue, absl::Time deadline = absl::InfiniteFuture(),
                                                 std::function<bool()> cancelled = nullptr) {
    return queue.Admit("m", {}, {}, deadline, cancelled);
  }

  // Polls until `queue` holds `n` waiting requests (no sleeps as synchronisation: a slow machine just polls longer).
  static void AwaitQueued(const AdmissionQueue& queue, int n) {
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (queue.queued() != n && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(2));
    ASSERT_EQ(queue.queued(), n);
  }

  std::unique_ptr<WorkerRegistry> registry_;
  std::unique_ptr<RoutingPolicy> policy_;
};

TEST_F(AdmissionQueueTest, BeyondTheBoundRequestsAreRefusedAtOnce) {
  std::unique_ptr<AdmissionQueue> queue = Queue(2);
  absl::StatusOr<AdmissionQueue::Admitted> running = Admit(*queue);
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_FALSE(running->waited);

  // Two may wait for the slot...
  std::vector<std::thread> waiters;
  std::atomic<int> admitted{0};
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&] {
      absl::StatusOr<AdmissionQueue::Admitted> waited = Admit(*queue);
      EXPECT_TRUE(waited.ok()) << waited.status();
      EXPECT_TRUE(waited->waited);
      admitted++;
    });
  }
  AwaitQueued(*queue, 2);
  // ...the third is refused without waiting.
  absl::StatusOr<AdmissionQueue::Admitted> refused = Admit(*queue);
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("queue is full"), std::string::npos);
  EXPECT_EQ(admitted.load(), 0);

  // Each freed slot lets exactly one waiter through (each releases its own lease when it ends).
  running->lease.Release();
  for (std::thread& waiter : waiters) waiter.join();
  EXPECT_EQ(admitted.load(), 2);
  EXPECT_EQ(queue->queued(), 0);
  EXPECT_EQ(registry_->Snapshot()[0].in_flight, 0);
}

TEST_F(AdmissionQueueTest, ZeroQueueRefusesAsSoonAsWorkersAreFull) {
  std::unique_ptr<AdmissionQueue> queue = Queue(0);
  absl::StatusOr<AdmissionQueue::Admitted> running = Admit(*queue);
  ASSERT_TRUE(running.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(Admit(*queue).status()));
}

TEST_F(AdmissionQueueTest, WaitersGoFirstComeFirstServed) {
  std::unique_ptr<AdmissionQueue> queue = Queue(8);
  absl::StatusOr<AdmissionQueue::Admitted> running = Admit(*queue);
  ASSERT_TRUE(running.ok());
  std::mutex order_mutex;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] {
      absl::StatusOr<AdmissionQueue::Admitted> waited = Admit(*queue);
      ASSERT_TRUE(waited.ok());
      {
        std::lock_guard<std::mutex> lock(order_mutex);
        order.push_back(i);
      }
      // Holds the slot briefly; the next waiter gets it when this lease ends.
    });
    AwaitQueued(*queue, i + 1);
  }
  running->lease.Release();
  for (std::thread& waiter : waiters) waiter.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST_F(AdmissionQueueTest, AWaiterLeavesOnItsDeadlineOrCancellation) {
  std::unique_ptr<AdmissionQueue> queue = Queue(4);
  absl::StatusOr<AdmissionQueue::Admitted> running = Admit(*queue);
  ASSERT_TRUE(running.ok());
  absl::StatusOr<AdmissionQueue::Admitted> late = Admit(*queue, absl::Now() + absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(late.status())) << late.status();
  EXPECT_EQ(queue->queued(), 0);

  std::atomic<bool> cancel{false};
  std::thread waiter([&] {
    absl::StatusOr<AdmissionQueue::Admitted> cancelled =
        Admit(*queue, absl::InfiniteFuture(), [&cancel] { return cancel.load(); });
    EXPECT_TRUE(absl::IsCancelled(cancelled.status())) << cancelled.status();
  });
  AwaitQueued(*queue, 1);
  cancel = true;
  waiter.join();
  EXPECT_EQ(queue->queued(), 0);
}

TEST_F(AdmissionQueueTest, UnknownModelAndNoHealthyWorkerAreNotQueued) {
  std::unique_ptr<AdmissionQueue> queue = Queue(4);
  EXPECT_TRUE(absl::IsNotFound(queue->Admit("other", {}, {}, absl::InfiniteFuture(), nullptr).status()));
  registry_->RecordFailure("w:1", "down");
  registry_->RecordFailure("w:1", "down");
  EXPECT_TRUE(absl::IsUnavailable(Admit(*queue).status()));
  EXPECT_EQ(queue->queued(), 0);
}

}  // namespace
}  // namespace tessera::router
