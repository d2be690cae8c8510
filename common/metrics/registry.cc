#include "common/metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common/metrics/text_format.h"

namespace tessera::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Reports the full definition so that a clash between two components is easy to trace.
std::string Describe(MetricType type, const std::vector<std::string>& label_names) {
  std::string out(MetricTypeName(type));
  out += " with labels [";
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (i > 0) out += ",";
    out += label_names[i];
  }
  out += "]";
  return out;
}

std::vector<std::string> SampleNames(std::string_view name, MetricType type) {
  std::string base(name);
  if (type != MetricType::kHistogram) return {base};
  return {base, base + "_bucket", base + "_sum", base + "_count"};
}

absl::Status ValidateDefinition(std::string_view name, std::string_view help, MetricType type,
                                const std::vector<std::string>& label_names) {
  if (absl::Status status = ValidateMetricName(name); !status.ok()) return status;
  std::string where = "metric '" + std::string(name) + "': ";
  if (help.empty()) return absl::InvalidArgumentError(where + "HELP text must not be empty");
  if (!IsValidUtf8(help)) return absl::InvalidArgumentError(where + "HELP text is not valid UTF-8");
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (absl::Status status = ValidateLabelName(label_names[i]); !status.ok()) {
      return absl::InvalidArgumentError(where + std::string(status.message()));
    }
    if (type == MetricType::kHistogram && label_names[i] == "le") {
      return absl::InvalidArgumentError(where + "label name 'le' is reserved for histogram buckets");
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label_names[i]) {
        return absl::InvalidArgumentError(where + "label name '" + label_names[i] + "' appears twice");
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> ValidateBuckets(std::string_view name, std::vector<double> buckets) {
  std::string where = "histogram '" + std::string(name) + "': ";
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (std::isnan(buckets[i])) return absl::InvalidArgumentError(where + "bucket bound " + std::to_string(i) +
                                                                  " is NaN");
    if (i > 0 && !(buckets[i] > buckets[i - 1])) {
      return absl::InvalidArgumentError(where + "bucket bounds must be strictly increasing, but bound " +
                                        std::to_string(i) + " (" + FormatValue(buckets[i]) + ") follows " +
                                        FormatValue(buckets[i - 1]));
    }
  }
  if (buckets.empty() || buckets.back() != kInf) buckets.push_back(kInf);
  return buckets;
}

}  // namespace

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void Counter::Increment(double delta) {
  if (!(delta > 0)) return;  // negative, zero and NaN alike
  value_.fetch_add(delta, std::memory_order_relaxed);
}

void Counter::IncreaseTo(double total) {
  double current = value_.load(std::memory_order_relaxed);
  while (total > current && !value_.compare_exchange_weak(current, total, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      bucket_counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_->size())) {
  for (size_t i = 0; i < upper_bounds_->size(); ++i) bucket_counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  const std::vector<double>& bounds = *upper_bounds_;
  size_t bucket = bounds.size() - 1;  // +Inf, also where NaN goes
  if (!std::isnan(value)) {
    bucket = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
  }
  bucket_counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::TakeSnapshot() const {
  Snapshot snapshot;
  snapshot.upper_bounds = *upper_bounds_;
  snapshot.cumulative_counts.resize(upper_bounds_->size());
  uint64_t running = 0;
  for (size_t i = 0; i < upper_bounds_->size(); ++i) {
    running += bucket_counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts[i] = running;
  }
  // The count is derived from the buckets so that _count always equals the +Inf bucket, even mid-update.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

Family::Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

void Family::Render(std::string& out) const {
  out += "# HELP " + name_ + " " + EscapeHelp(help_) + "\n";
  out += "# TYPE " + name_ + " " + std::string(MetricTypeName(type_)) + "\n";
  RenderSamples(out);
}

absl::Status Family::ValidateLabelValues(const std::vector<std::string>& values) const {
  if (values.size() != label_names_.size()) {
    return absl::InvalidArgumentError("metric '" + name_ + "' takes " + std::to_string(label_names_.size()) +
                                      " label values (" + Describe(type_, label_names_) + "), got " +
                                      std::to_string(values.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!IsValidUtf8(values[i])) {
      return absl::InvalidArgumentError("metric '" + name_ + "': value of label '" + label_names_[i] +
                                        "' is not valid UTF-8");
    }
  }
  return absl::OkStatus();
}

std::string Family::LabelPrefix(const std::vector<std::string>& values) const {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    out += i == 0 ? "{" : ",";
    out += label_names_[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  return out;
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : FamilyOf(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names)) {}

void CounterFamily::RenderChild(const std::string& label_prefix, const Counter& child, std::string& out) const {
  out += name() + label_prefix + (label_prefix.empty() ? " " : "} ") + FormatValue(child.Value()) + "\n";
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : FamilyOf(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names)) {}

void GaugeFamily::RenderChild(const std::string& label_prefix, const Gauge& child, std::string& out) const {
  out += name() + label_prefix + (label_prefix.empty() ? " " : "} ") + FormatValue(child.Value()) + "\n";
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : FamilyOf(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names)),
      upper_bounds_(std::make_shared<const std::vector<double>>(std::move(upper_bounds))) {}

void HistogramFamily::RenderChild(const std::string& label_prefix, const Histogram& child, std::string& out) const {
  Histogram::Snapshot snapshot = child.TakeSnapshot();
  std::string bucket_prefix = name() + "_bucket" + (label_prefix.empty() ? "{" : label_prefix + ",") + "le=\"";
  for (size_t i = 0; i < snapshot.upper_bounds.size(); ++i) {
    out += bucket_prefix + FormatValue(snapshot.upper_bounds[i]) + "\"} " +
           FormatValue(static_cast<double>(snapshot.cumulative_counts[i])) + "\n";
  }
  std::string labels_end = label_prefix.empty() ? " " : label_prefix + "} ";
  out += name() + "_sum" + labels_end + FormatValue(snapshot.sum) + "\n";
  out += name() + "_count" + labels_end + FormatValue(static_cast<double>(snapshot.count)) + "\n";
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> buckets;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) buckets.push_back(bound);
  return buckets;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> buckets;
  for (int i = 0; i < count; ++i) buckets.push_back(start + width * i);
  return buckets;
}

absl::StatusOr<Family*> Registry::CheckNew(std::string_view name, std::string_view help, MetricType type,
                                           const std::vector<std::string>& label_names,
                                           const std::vector<double>* upper_bounds) const {
  if (auto it = families_.find(name); it != families_.end()) {
    const Family& existing = *it->second;
    bool same = existing.type() == type && existing.help() == help && existing.label_names() == label_names;
    if (same && upper_bounds != nullptr) {
      same = static_cast<const HistogramFamily&>(existing).upper_bounds() == *upper_bounds;
    }
    if (!same) {
      return absl::AlreadyExistsError("metric '" + std::string(name) + "' is already registered as " +
                                      Describe(existing.type(), existing.label_names()) +
                                      " and a different definition (" + Describe(type, label_names) +
                                      ", or other help text or buckets) was requested");
    }
    return it->second.get();
  }
  for (const std::string& sample_name : SampleNames(name, type)) {
    if (sample_names_.count(sample_name) > 0) {
      return absl::AlreadyExistsError("metric '" + std::string(name) + "' would write samples named '" +
                                      sample_name + "', which another registered metric already writes");
    }
  }
  return nullptr;
}

void Registry::Insert(std::unique_ptr<Family> family) {
  for (std::string& sample_name : SampleNames(family->name(), family->type())) {
    sample_names_.insert(std::move(sample_name));
  }
  std::string name = family->name();
  families_.emplace(std::move(name), std::move(family));
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(std::string_view name, std::string_view help,
                                                    std::vector<std::string> label_names) {
  if (absl::Status status = ValidateDefinition(name, help, MetricType::kCounter, label_names); !status.ok()) {
    return status;
  }
  absl::MutexLock lock(&mutex_);
  absl::StatusOr<Family*> existing = CheckNew(name, help, MetricType::kCounter, label_names, nullptr);
  if (!existing.ok()) return existing.status();
  if (*existing != nullptr) return static_cast<CounterFamily*>(*existing);
  auto family = std::make_unique<CounterFamily>(std::string(name), std::string(help), std::move(label_names));
  CounterFamily* result = family.get();
  Insert(std::move(family));
  return result;
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(std::string_view name, std::string_view help,
                                                std::vector<std::string> label_names) {
  if (absl::Status status = ValidateDefinition(name, help, MetricType::kGauge, label_names); !status.ok()) {
    return status;
  }
  absl::MutexLock lock(&mutex_);
  absl::StatusOr<Family*> existing = CheckNew(name, help, MetricType::kGauge, label_names, nullptr);
  if (!existing.ok()) return existing.status();
  if (*existing != nullptr) return static_cast<GaugeFamily*>(*existing);
  auto family = std::make_unique<GaugeFamily>(std::string(name), std::string(help), std::move(label_names));
  GaugeFamily* result = family.get();
  Insert(std::move(family));
  return result;
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(std::string_view name, std::string_view help,
                                                        std::vector<double> buckets,
                                                        std::vector<std::string> label_names) {
  if (absl::Status status = ValidateDefinition(name, help, MetricType::kHistogram, label_names); !status.ok()) {
    return status;
  }
  absl::StatusOr<std::vector<double>> upper_bounds = ValidateBuckets(name, std::move(buckets));
  if (!upper_bounds.ok()) return upper_bounds.status();
  absl::MutexLock lock(&mutex_);
  absl::StatusOr<Family*> existing = CheckNew(name, help, MetricType::kHistogram, label_names, &*upper_bounds);
  if (!existing.ok()) return existing.status();
  if (*existing != nullptr) return static_cast<HistogramFamily*>(*existing);
  auto family = std::make_unique<HistogramFamily>(std::string(name), std::string(help), std::move(label_names),
                                                  std::move(*upper_bounds));
  HistogramFamily* result = family.get();
  Insert(std::move(family));
  return result;
}

void Registry::AddCollectHook(std::function<void()> hook) {
  absl::MutexLock lock(&mutex_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> hooks;
  {
    absl::MutexLock lock(&mutex_);
    hooks = hooks_;
  }
  for (const std::function<void()>& hook : hooks) hook();
  std::string out;
  absl::MutexLock lock(&mutex_);
  for (const auto& [name, family] : families_) family->Render(out);
  return out;
}

}  // namespace tessera::metrics
