#include "common/metrics/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>
#include <vector>

namespace tessera::metrics {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError("cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<double> BootTimeSeconds() {
  absl::StatusOr<std::string> text = ReadWholeFile("/proc/stat");
  if (!text.ok()) return text.status();
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return absl::DataLossError("/proc/stat has no btime line");
}

absl::StatusOr<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return absl::UnavailableError("cannot list /proc/self/fd");
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds while listing
}

}  // namespace

absl::StatusOr<ProcessStats> ParseProcStat(const std::string& stat_text, double clock_ticks_per_second,
                                           double page_size, double boot_time_seconds) {
  // Fields after the command name, which ends at the last ')': state is field 3 of proc(5), so index i here is
  // field i + 3.
  size_t comm_end = stat_text.rfind(')');
  if (comm_end == std::string::npos) return absl::DataLossError("/proc/self/stat: no ')' after the command name");
  std::vector<std::string_view> fields;
  std::string_view rest(stat_text);
  rest.remove_prefix(comm_end + 1);
  while (!rest.empty()) {
    size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  auto field = [&](int proc_field) -> absl::StatusOr<double> {
    size_t index = proc_field - 3;
    if (index >= fields.size()) {
      return absl::DataLossError("/proc/self/stat: field " + std::to_string(proc_field) + " is missing");
    }
    double value = 0;
    std::string_view text = fields[index];
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
      return absl::DataLossError("/proc/self/stat: field " + std::to_string(proc_field) + " ('" +
                                 std::string(text) + "') is not a number");
    }
    return value;
  };
  // proc(5): utime 14, stime 15 (clock ticks), starttime 22 (ticks after boot), vsize 23 (bytes), rss 24 (pages).
  ProcessStats stats;
  absl::StatusOr<double> utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  for (const absl::StatusOr<double>* value : {&utime, &stime, &start, &vsize, &rss}) {
    if (!value->ok()) return value->status();
  }
  stats.cpu_seconds = (*utime + *stime) / clock_ticks_per_second;
  stats.start_time_seconds = boot_time_seconds + *start / clock_ticks_per_second;
  stats.virtual_memory_bytes = *vsize;
  stats.resident_memory_bytes = *rss * page_size;
  return stats;
}

absl::StatusOr<ProcessStats> ReadProcessStats() {
  absl::StatusOr<std::string> stat_text = ReadWholeFile("/proc/self/stat");
  if (!stat_text.ok()) return stat_text.status();
  absl::StatusOr<double> boot_time = BootTimeSeconds();
  if (!boot_time.ok()) return boot_time.status();
  absl::StatusOr<ProcessStats> stats = ParseProcStat(*stat_text, static_cast<double>(sysconf(_SC_CLK_TCK)),
                                                     static_cast<double>(sysconf(_SC_PAGESIZE)), *boot_time);
  if (!stats.ok()) return stats.status();
  absl::StatusOr<double> open_fds = CountOpenFds();
  if (!open_fds.ok()) return open_fds.status();
  stats->open_fds = *open_fds;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats->max_fds = limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                                      : static_cast<double>(limit.rlim_cur);
  }
  return stats;
}

absl::Status AddProcessCollector(Registry& registry) {
  absl::StatusOr<ProcessStats> initial = ReadProcessStats();
  if (!initial.ok()) return initial.status();

  absl::StatusOr<CounterFamily*> cpu =
      registry.AddCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
  absl::StatusOr<GaugeFamily*> resident =
      registry.AddGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  absl::StatusOr<GaugeFamily*> virtual_memory =
      registry.AddGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  absl::StatusOr<GaugeFamily*> open_fds = registry.AddGauge("process_open_fds", "Number of open file descriptors.");
  absl::StatusOr<GaugeFamily*> max_fds =
      registry.AddGauge("process_max_fds", "Maximum number of open file descriptors.");
  absl::StatusOr<GaugeFamily*> start_time =
      registry.AddGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
  if (!cpu.ok()) return cpu.status();
  for (const absl::StatusOr<GaugeFamily*>* family : {&resident, &virtual_memory, &open_fds, &max_fds, &start_time}) {
    if (!family->ok()) return family->status();
  }

  Counter* cpu_seconds = *(*cpu)->WithLabels({});
  Gauge* resident_bytes = *(*resident)->WithLabels({});
  Gauge* virtual_bytes = *(*virtual_memory)->WithLabels({});
  Gauge* open = *(*open_fds)->WithLabels({});
  Gauge* max = *(*max_fds)->WithLabels({});
  Gauge* start = *(*start_time)->WithLabels({});
  auto publish = [=](const ProcessStats& stats) {
    cpu_seconds->IncreaseTo(stats.cpu_seconds);
    resident_bytes->Set(stats.resident_memory_bytes);
    virtual_bytes->Set(stats.virtual_memory_bytes);
    open->Set(stats.open_fds);
    max->Set(stats.max_fds);
    start->Set(stats.start_time_seconds);
  };
  publish(*initial);
  // A failed read at scrape time keeps the previous values: a transient /proc hiccup must not fail the scrape.
  registry.AddCollectHook([publish] {
    absl::StatusOr<ProcessStats> stats = ReadProcessStats();
    if (stats.ok()) publish(*stats);
  });
  return absl::OkStatus();
}

}  // namespace tessera::metrics
