// Prometheus metrics for the Tessera services, written without prometheus-cpp: a Registry of metric families
// (counters, gauges, histograms with label names) whose children are cheap atomic handles for the hot path, and a
// Render() producing the text exposition format 0.0.4 that Prometheus scrapes and `promtool check metrics` accepts.
//
// Usage: register families once at start-up, look up each label-value tuple once and keep the returned pointer
// (valid as long as the Registry lives), then update it from any thread without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tessera::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

std::string_view MetricTypeName(MetricType type);

// A monotonically increasing value (name it ..._total). Increments that are negative or NaN are ignored: a counter
// must never go down, and a bad delta from a caller must not corrupt the series or crash the service.
class Counter {
 public:
  void Increment(double delta = 1.0);
  // For mirroring a cumulative total kept elsewhere (CPU seconds, an engine's own count): raises the value to
  // `total` and leaves it alone when `total` is lower.
  void IncreaseTo(double total);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Increment(double delta = 1.0) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Decrement(double delta = 1.0) { value_.fetch_add(-delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets with inclusive upper bounds (value <= bound), plus their sum and count.
class Histogram {
 public:
  struct Snapshot {
    std::vector<double> upper_bounds;         // the configured bounds followed by +Inf
    std::vector<uint64_t> cumulative_counts;  // one per upper bound; the last equals `count`
    double sum = 0;
    uint64_t count = 0;
  };

  // `upper_bounds` must be strictly increasing and end with +Inf; the family guarantees it.
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);

  // NaN lands in the +Inf bucket only (it is not <= any finite bound) and makes the sum NaN, as in Prometheus'
  // own clients.
  void Observe(double value);
  Snapshot TakeSnapshot() const;

 private:
  std::shared_ptr<const std::vector<double>> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;  // per bucket, not cumulative
  std::atomic<double> sum_{0.0};
};

// What every family shares: its name, help, type and label names, and how its samples are written.
class Family {
 public:
  virtual ~Family() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the # HELP and # TYPE lines and every child's samples, children ordered by label values.
  void Render(std::string& out) const;

 protected:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);
  // Checks that a label-value tuple fits this family; the message names the family and the fault.
  absl::Status ValidateLabelValues(const std::vector<std::string>& values) const;
  // Appends `{a="x",b="y"` (no closing brace) or nothing when there are no labels, for samples to complete.
  std::string LabelPrefix(const std::vector<std::string>& values) const;
  virtual void RenderSamples(std::string& out) const = 0;

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// A family whose children are created on first lookup of their label values and live as long as the family.
template <typename Child>
class FamilyOf : public Family {
 public:
  // Returns the child for these label values (one per label name, in order), creating it on first use. Keep the
  // pointer: lookups lock, updates through the pointer do not.
  absl::StatusOr<Child*> WithLabels(const std::vector<std::string>& values) {
    if (absl::Status status = ValidateLabelValues(values); !status.ok()) return status;
    absl::MutexLock lock(&mutex_);
    std::unique_ptr<Child>& child = children_[values];
    if (child == nullptr) child = NewChild();
    return child.get();
  }

 protected:
  using Family::Family;
  virtual std::unique_ptr<Child> NewChild() const = 0;
  virtual void RenderChild(const std::string& label_prefix, const Child& child, std::string& out) const = 0;

  void RenderSamples(std::string& out) const override {
    absl::MutexLock lock(&mutex_);
    for (const auto& [values, child] : children_) RenderChild(LabelPrefix(values), *child, out);
  }

 private:
  mutable absl::Mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>> children_ ABSL_GUARDED_BY(mutex_);
};

class CounterFamily final : public FamilyOf<Counter> {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);

 private:
  std::unique_ptr<Counter> NewChild() const override { return std::make_unique<Counter>(); }
  void RenderChild(const std::string& label_prefix, const Counter& child, std::string& out) const override;
};

class GaugeFamily final : public FamilyOf<Gauge> {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);

 private:
  std::unique_ptr<Gauge> NewChild() const override { return std::make_unique<Gauge>(); }
  void RenderChild(const std::string& label_prefix, const Gauge& child, std::string& out) const override;
};

class HistogramFamily final : public FamilyOf<Histogram> {
 public:
  // `upper_bounds` are already validated and end with +Inf.
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);
  // The bounds as configured, +Inf last.
  const std::vector<double>& upper_bounds() const { return *upper_bounds_; }

 private:
  std::unique_ptr<Histogram> NewChild() const override { return std::make_unique<Histogram>(upper_bounds_); }
  void RenderChild(const std::string& label_prefix, const Histogram& child, std::string& out) const override;

  std::shared_ptr<const std::vector<double>> upper_bounds_;
};

// Histogram bucket helpers. Exponential: `count` bounds start, start*factor, ...; linear: start, start+width, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);
std::vector<double> LinearBuckets(double start, double width, int count);

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family. Registering the same name again with the same type, help, label names (and buckets)
  // returns the existing family, so independent components can share one; anything else that reuses the name,
  // or a sample name a histogram derives (_bucket, _sum, _count), is AlreadyExists. Names, label names and help
  // (non-empty UTF-8) are validated; histograms reserve the label `le`.
  absl::StatusOr<CounterFamily*> AddCounter(std::string_view name, std::string_view help,
                                            std::vector<std::string> label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names = {});
  // `buckets` are upper bounds, strictly increasing, not NaN; +Inf is added when absent.
  absl::StatusOr<HistogramFamily*> AddHistogram(std::string_view name, std::string_view help,
                                                std::vector<double> buckets,
                                                std::vector<std::string> label_names = {});

  // Runs before every Render(), outside the registry's lock: collectors use it to refresh gauges and counters that
  // mirror state kept elsewhere (the process collector reads /proc here).
  void AddCollectHook(std::function<void()> hook);

  // The whole registry in text format 0.0.4, families ordered by name. Safe to call while others update.
  std::string Render() const;

 private:
  // Checks a new family's definition against what is registered; returns the existing family when identical.
  absl::StatusOr<Family*> CheckNew(std::string_view name, std::string_view help, MetricType type,
                                   const std::vector<std::string>& label_names,
                                   const std::vector<double>* upper_bounds) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Insert(std::unique_ptr<Family> family) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  mutable absl::Mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_ ABSL_GUARDED_BY(mutex_);
  std::set<std::string, std::less<>> sample_names_ ABSL_GUARDED_BY(mutex_);  // every name a sample line may carry
  std::vector<std::function<void()>> hooks_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::metrics
