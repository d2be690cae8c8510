#include "common/hub/download_progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/progress_bar.h"

namespace tessera::hub {

DownloadProgress::DownloadProgress(std::string label, int64_t total_bytes, int64_t already_done, bool enabled,
                                   std::FILE* out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total_bytes, 0)),
      done_(already_done),
      resumed_(already_done),
      enabled_(enabled),
      out_(out),
      is_tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string DownloadProgress::FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrFormat("%.0f %s", bytes, kUnits[unit]) : absl::StrFormat("%.1f %s", bytes, kUnits[unit]);
}

std::string DownloadProgress::Render() const {
  constexpr int kWidth = 30;
  const double fraction = total_ > 0 ? std::clamp(static_cast<double>(done_) / total_, 0.0, 1.0) : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar;
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? "\u2588" : " ";
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? std::max<int64_t>(done_ - resumed_, 0) / elapsed : 0.0;
  const double remaining = rate > 0 ? std::max<int64_t>(total_ - done_, 0) / rate : 0.0;
  return absl::StrFormat("%s: %3d%%|%s| %s/%s [%s<%s, %s/s]", label_, static_cast<int>(fraction * 100), bar,
                         FormatBytes(done_), FormatBytes(total_), ProgressBar::FormatDuration(elapsed),
                         ProgressBar::FormatDuration(remaining), FormatBytes(rate));
}

void DownloadProgress::Draw(bool final_line) {
  const std::string line = Render();
  if (is_tty_) {
    std::fprintf(out_, final_line ? "\r%s\x1b[K\n" : "\r%s\x1b[K", line.c_str());
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void DownloadProgress::Add(int64_t delta_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += delta_bytes;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto min_interval = is_tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000);
  if (drawn_ && now - last_draw_ < min_interval) return;
  if (!drawn_ && !is_tty_ && now - start_ < min_interval) return;  // short downloads print only the final line
  last_draw_ = now;
  drawn_ = true;
  Draw(false);
}

void DownloadProgress::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!enabled_) return;
  Draw(true);
}

}  // namespace tessera::hub
