// Pieces of error messages both hub clients build from an HTTP answer. Internal to common/hub.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace tessera::hub {

// The string field `field` of a JSON error body, cut to a readable length; empty when absent.
std::string JsonErrorField(const std::string& body, const std::string& field);

// The fallback for statuses without a specific meaning: Unavailable for transient ones, else Unknown.
absl::Status HttpStatusError(const std::string& endpoint, const std::string& what, long status,
                             const std::string& detail);

}  // namespace tessera::hub
