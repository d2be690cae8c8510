#include "services/worker/generation_service.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/worker/engine/reasoning_parser.h"
#include "services/worker/proto_conversions.h"
#include "services/worker/reasoning_stream.h"

namespace tessera::worker {

using Clock = std::chrono::steady_clock;

GenerationService::GenerationService(AsyncEngine* engine, GenerationServiceOptions options)
    : engine_(engine), options_(std::move(options)), created_unix_seconds_(static_cast<int64_t>(std::time(nullptr))) {}

absl::Status GenerationService::CheckModel(const std::string& model) const {
  if (model.empty() || model == options_.served_model_name) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("model '", model, "' is not served here; this worker serves '", options_.served_model_name, "'"));
}

absl::StatusOr<std::vector<int32_t>> GenerationService::ChatTokenIds(const v1::ChatPrompt& chat,
                                                                     bool add_special_tokens, std::string* text) const {
  const engine::PromptProcessor& prompts = engine_->prompts();
  RETURN_IF_ERROR(prompts.RequireTokenizer());
  ASSIGN_OR_RETURN(ChatInput input, ChatInputFromProto(chat));
  ASSIGN_OR_RETURN(*text, prompts.RenderChat(input.messages, input.options));
  if (input.continue_final_message) {
    ASSIGN_OR_RETURN(*text, CutAfterFinalMessage(*text, input.messages));
  }
  return prompts.tokenizer()->Encode(*text, add_special_tokens);
}

absl::StatusOr<std::shared_ptr<GenerationStream>> GenerationService::Start(const v1::GenerateRequest& request,
                                                                           std::string* prompt_text) const {
  RETURN_IF_ERROR(CheckModel(request.model()));
  if (!request.reasoning_parser().empty()) RETURN_IF_ERROR(engine::ValidateReasoningParser(request.reasoning_parser()));
  std::vector<int32_t> ids;
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kChat: {
      // The template writes the special tokens itself, so none are added again (as vLLM's chat does).
      ASSIGN_OR_RETURN(ids, ChatTokenIds(request.chat(), /*add_special_tokens=*/false, prompt_text));
      break;
    }
    case v1::GenerateRequest::kText: {
      ASSIGN_OR_RETURN(engine::ProcessedPrompt processed,
                       engine_->prompts().Process(engine::Prompt::Text(request.text()), {}));
      ids = std::move(processed.token_ids);
      *prompt_text = std::move(processed.text);
      break;
    }
    case v1::GenerateRequest::kTokenIds:
      ids.assign(request.token_ids().ids().begin(), request.token_ids().ids().end());
      break;
    case v1::GenerateRequest::PROMPT_NOT_SET:
      return absl::InvalidArgumentError("the request has no prompt: set one of chat, text or token_ids");
  }
  ASSIGN_OR_RETURN(engine::SamplingParams params,
                   SamplingParamsFromProto(request.sampling(), engine_->default_sampling_params()));
  params.priority = request.priority();
  return engine_->Submit(request.request_id(), std::move(ids), std::move(params));
}

grpc::Status GenerationService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                         grpc::ServerWriter<v1::GenerateResponse>* writer) {
  std::string prompt_text;
  absl::StatusOr<std::shared_ptr<GenerationStream>> started = Start(*request, &prompt_text);
  if (!started.ok()) return ToGrpcStatus(started.status());
  GenerationStream& stream = **started;
  const Tokenizer* tokenizer = engine_->prompts().tokenizer();
  const bool want_logprobs = request->sampling().has_logprobs();
  std::map<int, ReasoningStreamParser> reasoning;  // per sequence index, when a parser is set
  bool first = true;
  int completion_tokens = 0;

  while (true) {
    if (context->IsCancelled() || std::chrono::system_clock::now() >= context->deadline()) {
      engine_->Abort(stream.request_id());
      if (std::chrono::system_clock::now() >= context->deadline()) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            absl::StrCat("request ", stream.request_id(), " exceeded its deadline"));
      }
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the request");
    }
    std::optional<GenerationUpdate> update = stream.Next(Clock::now() + options_.cancel_poll_interval);
    if (!update) continue;
    if (!update->error.ok()) return ToGrpcStatus(update->error);

    v1::GenerateResponse response;
    response.set_request_id(stream.request_id());
    if (first) {
      first = false;
      response.mutable_prompt_token_ids()->Assign(stream.prompt_token_ids().begin(), stream.prompt_token_ids().end());
      if (request->echo_prompt_text()) {
        if (prompt_text.empty() && tokenizer != nullptr) {
          absl::StatusOr<std::string> decoded = tokenizer->Decode(stream.prompt_token_ids(), false);
          if (decoded.ok()) prompt_text = std::move(*decoded);
        }
        response.set_prompt_text(prompt_text);
      }
    }
    if (update->prompt_logprobs) {
      for (const std::optional<engine::TokenLogprobs>& entry : *update->prompt_logprobs) {
        v1::TokenLogprob* out = response.add_prompt_logprobs();
        if (entry) TokenLogprobToProto(*entry, tokenizer, out);
      }
    }
    for (SequenceUpdate& seq : update->sequences) {
      v1::SequenceDelta* delta = response.add_deltas();
      delta->set_index(seq.index);
      if (request->reasoning_parser().empty()) {
        delta->set_text(std::move(seq.text));
      } else {
        auto [it, inserted] = reasoning.try_emplace(seq.index, request->reasoning_parser());
        ReasoningDelta split = it->second.Push(seq.text);
        if (seq.finish_reason != engine::FinishReason::kNone) {
          ReasoningDelta rest = it->second.Finish();
          split.reasoning += rest.reasoning;
          split.content += rest.content;
        }
        delta->set_text(std::move(split.content));
        delta->set_reasoning_text(std::move(split.reasoning));
      }
      delta->mutable_token_ids()->Assign(seq.token_ids.begin(), seq.token_ids.end());
      completion_tokens += static_cast<int>(seq.token_ids.size());
      if (want_logprobs) {
        for (const engine::TokenLogprobs& lp : seq.logprobs) TokenLogprobToProto(lp, tokenizer, delta->add_logprobs());
      }
      delta->set_finish_reason(FinishReasonToProto(seq.finish_reason));
      if (!seq.stop_string.empty()) {
        delta->set_stop_string(seq.stop_string);
      } else if (seq.stop_token) {
        delta->set_stop_token_id(*seq.stop_token);
      }
    }
    if (update->finished) {
      response.set_finished(true);
      v1::Usage* usage = response.mutable_usage();
      usage->set_prompt_tokens(static_cast<int>(stream.prompt_token_ids().size()));
      // With best_of > n the engine generated more than it returns; usage counts the returned sequences, as vLLM.
      usage->set_completion_tokens(update->num_completion_tokens > 0 ? update->num_completion_tokens
                                                                     : completion_tokens);
      usage->set_cached_prompt_tokens(update->num_cached_tokens);
    }
    if (!writer->Write(response)) {
      engine_->Abort(stream.request_id());
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
    if (update->finished) return grpc::Status::OK;
  }
}

grpc::Status GenerationService::Tokenize(grpc::ServerContext*, const v1::TokenizeRequest* request,
                                         v1::TokenizeResponse* response) {
  absl::Status status = CheckModel(request->model());
  if (status.ok()) status = engine_->prompts().RequireTokenizer();
  if (!status.ok()) return ToGrpcStatus(status);
  absl::StatusOr<std::vector<int32_t>> ids;
  std::string text;
  switch (request->input_case()) {
    case v1::TokenizeRequest::kText:
      ids = engine_->prompts().tokenizer()->Encode(request->text(), request->add_special_tokens());
      break;
    case v1::TokenizeRequest::kChat:
      ids = ChatTokenIds(request->chat(), request->add_special_tokens(), &text);
      break;
    case v1::TokenizeRequest::INPUT_NOT_SET:
      ids = absl::InvalidArgumentError("the request has no input: set text or chat");
      break;
  }
  if (!ids.ok()) return ToGrpcStatus(ids.status());
  response->mutable_token_ids()->Assign(ids->begin(), ids->end());
  response->set_count(static_cast<int>(ids->size()));
  response->set_max_model_len(engine_->info().max_model_len);
  return grpc::Status::OK;
}

grpc::Status GenerationService::Detokenize(grpc::ServerContext*, const v1::DetokenizeRequest* request,
                                           v1::DetokenizeResponse* response) {
  absl::Status status = CheckModel(request->model());
  if (status.ok()) status = engine_->prompts().RequireTokenizer();
  const int vocab_size = engine_->model_config().vocab_size;
  for (int i = 0; status.ok() && i < request->token_ids_size(); ++i) {
    const int32_t id = request->token_ids(i);
    if (id < 0 || id >= vocab_size) {
      status = absl::InvalidArgumentError(
          absl::StrCat("token_ids[", i, "] = ", id, " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  if (!status.ok()) return ToGrpcStatus(status);
  std::vector<int32_t> ids(request->token_ids().begin(), request->token_ids().end());
  absl::StatusOr<std::string> text = engine_->prompts().tokenizer()->Decode(ids, request->skip_special_tokens());
  if (!text.ok()) return ToGrpcStatus(text.status());
  response->set_text(std::move(*text));
  return grpc::Status::OK;
}

grpc::Status GenerationService::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                           v1::ListModelsResponse* response) {
  v1::ModelCard* card = response->add_models();
  card->set_id(options_.served_model_name);
  card->set_created(created_unix_seconds_);
  card->set_owned_by("tessera");
  card->set_max_model_len(engine_->info().max_model_len);
  return grpc::Status::OK;
}

WorkerControlService::WorkerControlService(AsyncEngine* engine, std::string model, std::string worker_address,
                                           std::function<void()> on_drain)
    : engine_(engine),
      model_(std::move(model)),
      worker_address_(std::move(worker_address)),
      on_drain_(std::move(on_drain)) {}

void WorkerControlService::set_worker_address(std::string address) {
  std::lock_guard<std::mutex> lock(address_mutex_);
  worker_address_ = std::move(address);
}

v1::LoadReport WorkerControlService::MakeLoadReport() const {
  const EngineLoad load = engine_->GetLoad();
  v1::LoadReport report;
  {
    std::lock_guard<std::mutex> lock(address_mutex_);
    report.set_worker_address(worker_address_);
  }
  report.set_model(model_);
  report.set_num_running(load.num_running);
  // Requests submitted but not yet scheduled wait as well.
  report.set_num_waiting(std::max(load.num_waiting, load.num_in_flight - load.num_running));
  report.set_kv_cache_usage(load.kv_cache_usage);
  report.set_prefix_cache_hit_rate(load.prefix_cache_hit_rate);
  report.set_kv_capacity_tokens(load.kv_capacity_tokens);
  report.set_max_num_seqs(load.max_num_seqs);
  report.set_draining(load.draining);
  return report;
}

grpc::Status WorkerControlService::GetLoad(grpc::ServerContext*, const v1::GetLoadRequest*, v1::LoadReport* response) {
  *response = MakeLoadReport();
  return grpc::Status::OK;
}

grpc::Status WorkerControlService::Drain(grpc::ServerContext*, const v1::DrainRequest* request,
                                         v1::DrainResponse* response) {
  if (request->grace_seconds() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("grace_seconds must not be negative"));
  }
  std::optional<Clock::duration> grace;
  if (request->grace_seconds() > 0) grace = std::chrono::seconds(request->grace_seconds());
  engine_->Drain(grace);
  if (on_drain_) on_drain_();
  response->set_in_flight(engine_->GetLoad().num_in_flight);
  return grpc::Status::OK;
}

}  // namespace tessera::worker
