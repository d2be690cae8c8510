// Turns the engine's token outputs into text, per sequence: incremental detokenization and stop strings. Text
// that might be the start of a stop string is held back so that a client never sees part of a stop string; when a
// stop string appears, the text is cut there and the caller stops the sequence in the engine (as vLLM's output
// processor does). Used by the offline LLM and by the worker service.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/tokenizer/incremental_detokenizer.h"
#include "common/tokenizer/tokenizer.h"
#include "services/worker/engine/request_output.h"

namespace tessera::engine {

// A stop string found in sequence `index` of `request_id`; the engine must end that sequence.
struct StopStringMatch {
  std::string request_id;
  int index = 0;
  std::string stop_string;
};

class OutputProcessor {
 public:
  explicit OutputProcessor(const Tokenizer* tokenizer) : tokenizer_(tokenizer) {}

  void AddRequest(const std::string& request_id, const std::vector<int32_t>& prompt_token_ids,
                  const SamplingParams& params);
  void RemoveRequest(const std::string& request_id) { requests_.erase(request_id); }

  // Fills every CompletionOutput's text (cumulative) and `text_deltas[i]` (new text of outputs[i] in this step).
  // Stop strings found are appended to `stops`; their sequences' text already ends at the stop string and their
  // finish reason is set to stop. Forgets the request once its output is final.
  absl::Status Process(RequestOutput& output, std::vector<std::string>& text_deltas,
                       std::vector<StopStringMatch>& stops);

 private:
  struct SequenceText {
    std::unique_ptr<IncrementalDetokenizer> detokenizer;
    std::string text;           // all decoded text (possibly cut at a stop string)
    size_t num_tokens_seen = 0;
    size_t emitted_bytes = 0;   // how much of `text` has been handed out as deltas
    bool stopped = false;       // a stop string ended it
  };
  struct RequestText {
    std::vector<int32_t> prompt_token_ids;
    SamplingParams params;
    size_t max_stop_chars = 0;
    absl::flat_hash_map<int, SequenceText> sequences;
  };

  // Looks for a stop string that ends inside the last `new_bytes` of the text; cuts the text if found.
  static std::optional<std::string> FindStop(SequenceText& seq, const SamplingParams& params, size_t new_bytes,
                                             size_t max_stop_bytes);

  const Tokenizer* tokenizer_;
  absl::flat_hash_map<std::string, RequestText> requests_;
};

// Byte length of the last `chars` UTF-8 characters of `text` (all of it when shorter).
size_t TailBytesForChars(const std::string& text, size_t chars);

}  // namespace tessera::engine
