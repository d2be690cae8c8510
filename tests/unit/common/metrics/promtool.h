// Test helper: runs the real `promtool check metrics` (Debian package prometheus) over exposition text, so that the
// metrics tests check our output against Prometheus' own parser and linter rather than our reading of the spec.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace tessera::metrics {

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline bool PromtoolAvailable() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

inline PromtoolResult RunPromtoolCheckMetrics(const std::string& text) {
  char path[] = "/tmp/tessera_metrics_XXXXXX";
  int fd = mkstemp(path);
  PromtoolResult result;
  if (fd < 0) {
    result.output = "cannot create a temporary file";
    return result;
  }
  close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe != nullptr) {
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::remove(path);
  return result;
}

}  // namespace tessera::metrics
