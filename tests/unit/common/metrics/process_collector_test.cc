#include "common/metrics/process_collector.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera::metrics {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

TEST(ProcStatTest, ParsesFieldsAfterACommandWithSpacesAndParens) {
  // Fields 3..24 of proc(5) after a hostile command name; utime=150 stime=50 starttime=1000 vsize rss=256.
  std::string stat =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 1000 123456789 256 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  absl::StatusOr<ProcessStats> stats = ParseProcStat(stat, /*clock_ticks_per_second=*/100, /*page_size=*/4096,
                                                     /*boot_time_seconds=*/1700000000);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_DOUBLE_EQ(stats->cpu_seconds, 2.0);
  EXPECT_DOUBLE_EQ(stats->start_time_seconds, 1700000010.0);
  EXPECT_DOUBLE_EQ(stats->virtual_memory_bytes, 123456789.0);
  EXPECT_DOUBLE_EQ(stats->resident_memory_bytes, 256.0 * 4096);
}

TEST(ProcStatTest, MalformedTextIsAnError) {
  EXPECT_THAT(ParseProcStat("no parenthesis here", 100, 4096, 0).status().message(), HasSubstr("')'"));
  EXPECT_THAT(ParseProcStat("1 (x) S 1 2 3", 100, 4096, 0).status().message(), HasSubstr("field 14 is missing"));
  std::string bad = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 50 0 0 20 0 3 0 1000 1 1\n";
  EXPECT_THAT(ParseProcStat(bad, 100, 4096, 0).status().message(), HasSubstr("field 14 ('abc')"));
}

TEST(ProcessCollectorTest, ReadsThisProcess) {
  absl::StatusOr<ProcessStats> stats = ReadProcessStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->resident_memory_bytes, 0);
  EXPECT_GE(stats->virtual_memory_bytes, stats->resident_memory_bytes);
  EXPECT_GE(stats->open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_GE(stats->max_fds, stats->open_fds);
  EXPECT_GE(stats->cpu_seconds, 0);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 86400 * 365);
}

TEST(ProcessCollectorTest, OpenFdsFollowsTheProcess) {
  double before = ReadProcessStats()->open_fds;
  int fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadProcessStats()->open_fds, before + 1);
  close(fd);
  EXPECT_EQ(ReadProcessStats()->open_fds, before);
}

TEST(ProcessCollectorTest, RegistersTheStandardFamilies) {
  Registry registry;
  ASSERT_TRUE(AddProcessCollector(registry).ok());
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_resident_memory_bytes gauge\n"));
  EXPECT_THAT(text, ContainsRegex("\nprocess_resident_memory_bytes [0-9]+\n"));
  EXPECT_THAT(text, ContainsRegex("\nprocess_virtual_memory_bytes [0-9]+\n"));
  EXPECT_THAT(text, ContainsRegex("\nprocess_open_fds [0-9]+\n"));
  EXPECT_THAT(text, ContainsRegex("\nprocess_max_fds ([0-9]+|\\+Inf)\n"));
  EXPECT_THAT(text, ContainsRegex("\nprocess_start_time_seconds [0-9.]+\n"));
  EXPECT_THAT(text, ContainsRegex("\nprocess_cpu_seconds_total [0-9.e+-]+\n"));
  // Two components may both ask for the collector; the series still appear once.
  ASSERT_TRUE(AddProcessCollector(registry).ok());
  text = registry.Render();
  EXPECT_EQ(text.find("\nprocess_open_fds "), text.rfind("\nprocess_open_fds "));
}

}  // namespace
}  // namespace tessera::metrics
