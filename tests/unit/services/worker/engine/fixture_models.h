// Test support: where the fixture model folders live and the prompts their golden files were made from, shared by
// the engine tests so that every test reads the reference data the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "gtest/gtest.h"

namespace tessera::engine::fixtures {

inline std::string FixtureModelDir(const std::string& name) {
  return std::string(TESSERA_FIXTURES_DIR) + "/models/" + name;
}

// The eight prompts (p0..p7.input_ids) of a fixture model's golden.safetensors.
inline std::vector<std::vector<int32_t>> GoldenPromptIds(const std::string& model) {
  std::vector<std::vector<int32_t>> prompts;
  auto file = SafetensorsFile::Open(FixtureModelDir(model) + "/golden.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return prompts;
  for (int i = 0; i < 8; ++i) {
    auto t = (*file)->Get(absl::StrCat("p", i, ".input_ids"));
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) continue;
    const auto* v = reinterpret_cast<const int64_t*>(t->data);
    prompts.emplace_back(v, v + t->numel());
  }
  return prompts;
}

}  // namespace tessera::engine::fixtures
