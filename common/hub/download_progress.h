// The progress bar of a model download on stderr: bytes done of the total, percentage, elapsed and remaining time,
// and transfer rate, summed over the files being fetched in parallel. Redraws in place on a terminal, and at most
// once a second otherwise so that logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace tessera::hub {

class DownloadProgress {
 public:
  // `already_done` counts bytes resumed from earlier runs: they show as done but not in the rate.
  DownloadProgress(std::string label, int64_t total_bytes, int64_t already_done, bool enabled,
                   std::FILE* out = stderr);
  // Thread-safe.
  void Add(int64_t delta_bytes);
  // Draws the final state and ends the line.
  void Finish();

  // "512 B", "1.5 KiB", "2.3 GiB".
  static std::string FormatBytes(double bytes);

 private:
  std::string Render() const;
  void Draw(bool final_line);

  std::mutex mutex_;
  std::string label_;
  int64_t total_;
  int64_t done_;
  int64_t resumed_;
  bool enabled_;
  std::FILE* out_;
  bool is_tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace tessera::hub
