// The standard process_* metrics every Prometheus client exports (CPU seconds, resident and virtual memory, open
// and maximum file descriptors, start time), read from Linux /proc at each scrape, with the names and help text of
// the official clients so that existing dashboards work.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics/registry.h"

namespace tessera::metrics {

struct ProcessStats {
  double cpu_seconds = 0;           // user + system
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;               // soft limit; +Inf when unlimited
  double start_time_seconds = 0;    // since the Unix epoch
};

// Reads this process's statistics. Errors name the /proc file that could not be read or parsed.
absl::StatusOr<ProcessStats> ReadProcessStats();

// Parses the text of /proc/<pid>/stat (whose second field, the command name, may hold spaces and parentheses).
// `clock_ticks_per_second` and `page_size` convert its units; `boot_time_seconds` is /proc/stat's btime.
absl::StatusOr<ProcessStats> ParseProcStat(const std::string& stat_text, double clock_ticks_per_second,
                                           double page_size, double boot_time_seconds);

// Registers the process_* families in `registry` and refreshes them before each Render(). Fails when /proc cannot
// be read at all (not Linux) or a name clashes with an existing metric.
absl::Status AddProcessCollector(Registry& registry);

}  // namespace tessera::metrics
