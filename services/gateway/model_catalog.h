// The models the backend serves, as the gateway last heard them from ListModels, kept for a short while so that
// every request can be checked against them without a round trip: a request that omits "model" runs on the first
// served model (as in vLLM, and so responses always name the model), and one naming an unknown model is a 404.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tessera/v1/generation.pb.h"

namespace tessera::gateway {

class ModelCatalog {
 public:
  explicit ModelCatalog(absl::Duration max_age) : max_age_(max_age) {}

  // The list stored within max_age before `now`, if any.
  std::optional<tessera::v1::ListModelsResponse> Fresh(absl::Time now) const;
  void Store(tessera::v1::ListModelsResponse models, absl::Time now);

 private:
  const absl::Duration max_age_;
  mutable std::mutex mutex_;
  std::optional<tessera::v1::ListModelsResponse> models_;
  absl::Time stored_at_ = absl::InfinitePast();
};

// The model a request runs on: `requested` when it is served, the first served model when `requested` is empty.
// A model not in the list is NotFound naming param "model". An empty list (a router with no healthy worker yet)
// resolves to `requested` unchanged, so that the backend gives the real reason (UNAVAILABLE → 503).
absl::StatusOr<std::string> ResolveModel(const tessera::v1::ListModelsResponse& models, std::string_view requested);

// The card of `model` in the list, if there.
const tessera::v1::ModelCard* FindModel(const tessera::v1::ListModelsResponse& models, std::string_view model);

}  // namespace tessera::gateway
