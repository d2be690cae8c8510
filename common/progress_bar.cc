#include "common/progress_bar.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace tessera {

ProgressBar::ProgressBar(std::string label, int64_t total, std::FILE* out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      out_(out),
      is_tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%02d:%02d", s / 60, s % 60);
}

std::string ProgressBar::Render(int64_t done, const std::string& suffix) const {
  constexpr int kWidth = 30;
  const double fraction = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar;
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? "\u2588" : " ";
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double remaining = rate > 0 ? (total_ - done) / rate : 0.0;
  return absl::StrFormat("%s: %3d%%|%s| %d/%d [%s<%s, %.2fit/s%s%s]", label_, static_cast<int>(fraction * 100), bar,
                         done, total_, FormatDuration(elapsed), FormatDuration(remaining), rate,
                         suffix.empty() ? "" : ", ", suffix);
}

void ProgressBar::Update(int64_t done, const std::string& suffix) {
  const auto now = std::chrono::steady_clock::now();
  const auto min_interval = is_tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000);
  if (drawn_ && now - last_draw_ < min_interval) return;
  last_draw_ = now;
  drawn_ = true;
  const std::string line = Render(done, suffix);
  std::fprintf(out_, is_tty_ ? "\r%s\x1b[K" : "%s\n", line.c_str());
  std::fflush(out_);
}

void ProgressBar::Finish(const std::string& suffix) {
  const std::string line = Render(total_, suffix);
  std::fprintf(out_, is_tty_ ? "\r%s\x1b[K\n" : "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace tessera
