#include "common/tokenizer/post_processor.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::tok {
namespace {

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  std::vector<int32_t> Process(std::vector<int32_t> ids) const override {
    for (const auto& step : steps_) ids = step->Process(std::move(ids));
    return ids;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// Only adjusts offsets in Hugging Face; ids are unchanged.
class IdentityPostProcessor : public PostProcessor {
 public:
  std::vector<int32_t> Process(std::vector<int32_t> ids) const override { return ids; }
};

// The single-sequence template as a list of items: the sequence itself (empty ids) or a run of special token ids.
class TemplatePostProcessor : public PostProcessor {
 public:
  struct Item {
    bool is_sequence;
    std::vector<int32_t> ids;
  };
  explicit TemplatePostProcessor(std::vector<Item> items) : items_(std::move(items)) {}
  std::vector<int32_t> Process(std::vector<int32_t> ids) const override {
    std::vector<int32_t> out;
    size_t extra = 0;
    for (const Item& item : items_) extra += item.ids.size();
    out.reserve(ids.size() + extra);
    for (const Item& item : items_) {
      if (item.is_sequence) {
        out.insert(out.end(), ids.begin(), ids.end());
      } else {
        out.insert(out.end(), item.ids.begin(), item.ids.end());
      }
    }
    return out;
  }

 private:
  std::vector<Item> items_;
};

absl::StatusOr<std::unique_ptr<PostProcessor>> ParseTemplate(const nlohmann::json& json) {
  absl::flat_hash_map<std::string, std::vector<int32_t>> special_ids;
  if (json.contains("special_tokens") && json["special_tokens"].is_object()) {
    for (auto it = json["special_tokens"].begin(); it != json["special_tokens"].end(); ++it) {
      special_ids[it.key()] = it.value().at("ids").get<std::vector<int32_t>>();
    }
  }
  const nlohmann::json& single = json.at("single");
  if (!single.is_array()) {
    return absl::InvalidArgumentError("post_processor TemplateProcessing.single: expected a list of pieces");
  }
  std::vector<TemplatePostProcessor::Item> items;
  for (const auto& piece : single) {
    if (piece.contains("Sequence")) {
      items.push_back({true, {}});
    } else if (piece.contains("SpecialToken")) {
      const std::string name = piece["SpecialToken"].at("id").get<std::string>();
      auto it = special_ids.find(name);
      if (it == special_ids.end()) {
        return absl::InvalidArgumentError(absl::StrCat("post_processor TemplateProcessing: special token '", name,
                                                       "' is used in the template but not listed in special_tokens"));
      }
      items.push_back({false, it->second});
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("post_processor TemplateProcessing.single: unknown piece ", piece.dump()));
    }
  }
  return std::unique_ptr<PostProcessor>(new TemplatePostProcessor(std::move(items)));
}

// RobertaProcessing and BertProcessing: [cls] sequence [sep], with the tokens given as [content, id].
absl::StatusOr<std::unique_ptr<PostProcessor>> ParseClsSep(const nlohmann::json& json) {
  const int32_t cls = json.at("cls").at(1).get<int32_t>();
  const int32_t sep = json.at("sep").at(1).get<int32_t>();
  std::vector<TemplatePostProcessor::Item> items = {{false, {cls}}, {true, {}}, {false, {sep}}};
  return std::unique_ptr<PostProcessor>(new TemplatePostProcessor(std::move(items)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(const nlohmann::json& json) {
  if (json.is_null()) return std::unique_ptr<PostProcessor>();
  if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("post_processor: expected an object with a \"type\", got ", json.dump()));
  }
  const std::string type = json["type"].get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (const auto& step : json.at("processors")) {
      ASSIGN_OR_RETURN(auto processor, ParsePostProcessor(step));
      if (processor != nullptr) steps.push_back(std::move(processor));
    }
    return std::unique_ptr<PostProcessor>(new SequencePostProcessor(std::move(steps)));
  }
  if (type == "ByteLevel") return std::unique_ptr<PostProcessor>(new IdentityPostProcessor());
  if (type == "TemplateProcessing") return ParseTemplate(json);
  if (type == "RobertaProcessing" || type == "BertProcessing") return ParseClsSep(json);
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported post_processor type '", type,
                   "' (supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)"));
}

}  // namespace tessera::tok
