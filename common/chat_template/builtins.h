// The builtin library of the chat-template interpreter: Jinja2's filters and tests that chat templates use, the
// Python str/dict/list methods the sandbox allows, and the globals Hugging Face provides (range, namespace, dict,
// raise_exception, strftime_now, joiner).
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "common/chat_template/value.h"

namespace tessera::jinja {

class Renderer;

bool IsKnownFilter(absl::string_view name);
bool IsKnownTest(absl::string_view name);
// Errors carry no template line; the caller adds it.
absl::StatusOr<Value> ApplyFilter(Renderer& renderer, absl::string_view name, const Value& input,
                                  const CallArgs& args);
absl::StatusOr<bool> ApplyTest(Renderer& renderer, absl::string_view name, const Value& input, const CallArgs& args);

// Whether `self.name` is a method (str.startswith, dict.items, ...).
bool HasMethod(const Value& self, absl::string_view name);
// Mutating methods (list.append, dict.update...) are refused, as in Jinja's ImmutableSandboxedEnvironment.
bool IsUnsafeMethod(const Value& self, absl::string_view name);
absl::StatusOr<Value> CallMethod(Renderer& renderer, const Value& self, absl::string_view name, const CallArgs& args);

// A global function by name, or nullopt.
std::optional<Value> LookupGlobal(absl::string_view name);

// `self.name` as a value, so that `x.startswith` can be passed around and called later.
class BoundMethod : public Callable {
 public:
  BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  std::string Name() const override { return name_; }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override {
    return CallMethod(renderer, self_, name_, args);
  }

 private:
  Value self_;
  std::string name_;
};

}  // namespace tessera::jinja
