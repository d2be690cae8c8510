#include "services/gateway/model_catalog.h"

#include <utility>

#include "common/json_util.h"
#include "services/gateway/errors.h"

namespace tessera::gateway {

std::optional<tessera::v1::ListModelsResponse> ModelCatalog::Fresh(absl::Time now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!models_ || now - stored_at_ >= max_age_ || now < stored_at_) return std::nullopt;
  return models_;
}

void ModelCatalog::Store(tessera::v1::ListModelsResponse models, absl::Time now) {
  std::lock_guard<std::mutex> lock(mutex_);
  models_ = std::move(models);
  stored_at_ = now;
}

const tessera::v1::ModelCard* FindModel(const tessera::v1::ListModelsResponse& models, std::string_view model) {
  for (const tessera::v1::ModelCard& card : models.models()) {
    if (card.id() == model) return &card;
  }
  return nullptr;
}

absl::StatusOr<std::string> ResolveModel(const tessera::v1::ListModelsResponse& models, std::string_view requested) {
  if (models.models().empty()) return std::string(requested);
  if (requested.empty()) return models.models(0).id();
  if (FindModel(models, requested) != nullptr) return std::string(requested);
  return WithParam(absl::NotFoundError(CatMessage("The model `", requested, "` does not exist.")), "model");
}

}  // namespace tessera::gateway
