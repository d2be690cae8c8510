#include "services/worker/engine/output_processor.h"

#include <algorithm>

#include "common/status_macros.h"

namespace tessera::engine {

size_t TailBytesForChars(const std::string& text, size_t chars) {
  size_t pos = text.size();
  while (chars > 0 && pos > 0) {
    --pos;
    // Continuation bytes (10xxxxxx) belong to the character that starts before them.
    while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xc0) == 0x80) --pos;
    --chars;
  }
  return text.size() - pos;
}

namespace {
size_t CountChars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}
}  // namespace

void OutputProcessor::AddRequest(const std::string& request_id, const std::vector<int32_t>& prompt_token_ids,
                                 const SamplingParams& params) {
  RequestText& r = requests_[request_id];
  r.prompt_token_ids = prompt_token_ids;
  r.params = params;
  for (const std::string& s : params.stop) r.max_stop_chars = std::max(r.max_stop_chars, CountChars(s));
}

std::optional<std::string> OutputProcessor::FindStop(SequenceText& seq, const SamplingParams& params,
                                                     size_t new_bytes, size_t max_stop_bytes) {
  // Only a stop string that overlaps the new text can be new; search from where it could start.
  const size_t search_from = seq.text.size() - std::min(seq.text.size(), new_bytes + max_stop_bytes);
  size_t best = std::string::npos;
  const std::string* best_stop = nullptr;
  for (const std::string& stop : params.stop) {
    if (stop.empty()) continue;
    const size_t at = seq.text.find(stop, search_from);
    if (at != std::string::npos && at < best) {
      best = at;
      best_stop = &stop;
    }
  }
  if (best_stop == nullptr) return std::nullopt;
  seq.text.resize(params.include_stop_str_in_output ? best + best_stop->size() : best);
  return *best_stop;
}

absl::Status OutputProcessor::Process(RequestOutput& output, std::vector<std::string>& text_deltas,
                                      std::vector<StopStringMatch>& stops) {
  text_deltas.assign(output.outputs.size(), "");
  auto it = requests_.find(output.request_id);
  if (it == requests_.end() || tokenizer_ == nullptr) return absl::OkStatus();
  RequestText& r = it->second;
  DetokenizerOptions options;
  options.skip_special_tokens = r.params.skip_special_tokens;
  options.spaces_between_special_tokens = r.params.spaces_between_special_tokens;
  for (size_t i = 0; i < output.outputs.size(); ++i) {
    CompletionOutput& c = output.outputs[i];
    SequenceText& seq = r.sequences[c.index];
    if (!seq.detokenizer) {
      seq.detokenizer = std::make_unique<IncrementalDetokenizer>(*tokenizer_, r.prompt_token_ids, options);
    }
    const size_t before = seq.text.size();
    while (!seq.stopped && seq.num_tokens_seen < c.token_ids.size()) {
      ASSIGN_OR_RETURN(std::string piece, seq.detokenizer->Step(c.token_ids[seq.num_tokens_seen++]));
      seq.text += piece;
    }
    if (!seq.stopped && c.finished() && c.finish_reason != FinishReason::kAbort) {
      ASSIGN_OR_RETURN(std::string rest, seq.detokenizer->Flush());
      seq.text += rest;
    }
    if (!seq.stopped && !r.params.stop.empty() && seq.text.size() > before) {
      const size_t max_stop_bytes = 4 * r.max_stop_chars;
      if (auto stop = FindStop(seq, r.params, seq.text.size() - before, max_stop_bytes)) {
        seq.stopped = true;
        if (!c.finished()) stops.push_back({output.request_id, c.index, *stop});
        c.finish_reason = FinishReason::kStop;
        c.stop_string = *stop;
        c.stop_token.reset();
      }
    }
    // Hold back what could still grow into a stop string, unless the sequence is done.
    size_t releasable = seq.text.size();
    if (!c.finished() && !seq.stopped && r.max_stop_chars > 0 && !r.params.include_stop_str_in_output) {
      releasable -= TailBytesForChars(seq.text, r.max_stop_chars - 1);
    }
    releasable = std::max(releasable, std::min(seq.emitted_bytes, seq.text.size()));
    if (seq.emitted_bytes < releasable) {
      text_deltas[i] = seq.text.substr(seq.emitted_bytes, releasable - seq.emitted_bytes);
      seq.emitted_bytes = releasable;
    }
    c.text = seq.text.substr(0, seq.emitted_bytes);
  }
  bool all_done = true;
  for (const CompletionOutput& c : output.outputs) all_done = all_done && c.finished();
  if (output.finished || all_done) output.finished = true;
  if (output.finished) requests_.erase(it);
  return absl::OkStatus();
}

}  // namespace tessera::engine
