// Pieces of the Prometheus text exposition format 0.0.4 that do not depend on the registry: number formatting,
// escaping of HELP text and label values, and validation of metric and label names. Kept separate so that each
// rule can be tested on its own and reused by anything else that writes exposition text.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace tessera::metrics {

// The Content-Type a /metrics handler must send with Registry::Render()'s output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// A sample value or `le` bound as Prometheus parses it: "+Inf", "-Inf", "NaN", integral values as plain digits
// ("3", "1000000", never "1e+06") up to 2^53, anything else in the shortest form that reads back exactly.
std::string FormatValue(double value);

// Label values escape backslash, double quote and line feed; HELP text escapes backslash and line feed only.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);

// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*. Label names match [a-zA-Z_][a-zA-Z0-9_]* and must not start with
// "__" (reserved for Prometheus itself). Errors quote the offending name.
absl::Status ValidateMetricName(std::string_view name);
absl::Status ValidateLabelName(std::string_view name);

// The exposition format is UTF-8; a label value or HELP text that is not would make the whole scrape fail.
bool IsValidUtf8(std::string_view text);

}  // namespace tessera::metrics
