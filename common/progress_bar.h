// A terminal progress bar on stderr in the style users know from vLLM's "Processed prompts" bar: done/total,
// percentage, elapsed and remaining time, and free-form rates. Redraws in place on a TTY and at most once per
// second otherwise, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace tessera {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::FILE* out = stderr);
  // Redraws with `done` items finished; `suffix` carries rates such as "input: 120.5 toks/s".
  void Update(int64_t done, const std::string& suffix);
  // Draws the final state and ends the line.
  void Finish(const std::string& suffix);

  static std::string FormatDuration(double seconds);

 private:
  std::string Render(int64_t done, const std::string& suffix) const;

  std::string label_;
  int64_t total_;
  std::FILE* out_;
  bool is_tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace tessera
