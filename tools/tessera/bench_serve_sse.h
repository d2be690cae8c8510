// An incremental Server-Sent Events reader for `tessera bench serve`: bytes go in as they arrive from the socket,
// the data of every event they complete comes out, so each event can be timestamped when its bytes came in.
// Header-only so that the unit tests, which cannot link the CLI's sources, test this very code.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tessera::cli {

class SseReader {
 public:
  // The data of each event completed by `bytes` (its `data:` lines joined with '\n'); comments (":...") and other
  // fields are skipped. Lines may end in "\n" or "\r\n".
  std::vector<std::string> Feed(std::string_view bytes) {
    std::vector<std::string> events;
    pending_.append(bytes);
    size_t start = 0;
    for (size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1) {
      std::string_view line(pending_.data() + start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      TakeLine(line, events);
    }
    pending_.erase(0, start);
    return events;
  }

  // The event left open when the stream ended without its blank line, if it has data.
  std::vector<std::string> Finish() {
    std::vector<std::string> events;
    if (!pending_.empty()) {
      std::string line = std::move(pending_);
      pending_.clear();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      TakeLine(line, events);
    }
    TakeLine("", events);
    return events;
  }

 private:
  void TakeLine(std::string_view line, std::vector<std::string>& events) {
    if (line.empty()) {
      if (has_data_) events.push_back(std::move(data_));
      data_.clear();
      has_data_ = false;
      return;
    }
    constexpr std::string_view kData = "data:";
    if (line.substr(0, kData.size()) != kData) return;  // a comment, or a field a benchmark has no use for
    line.remove_prefix(kData.size());
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (has_data_) data_.push_back('\n');
    data_.append(line);
    has_data_ = true;
  }

  std::string pending_;  // bytes of a line not yet ended
  std::string data_;     // the open event's data
  bool has_data_ = false;
};

}  // namespace tessera::cli
