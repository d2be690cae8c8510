#include "services/router/routing_key.h"

#include <string>

#include "gtest/gtest.h"

namespace tessera::router {
namespace {

v1::GenerateRequest Chat(const std::string& system, const std::string& user) {
  v1::GenerateRequest request;
  v1::ChatMessage* s = request.mutable_chat()->add_messages();
  s->set_role("system");
  s->set_content(system);
  v1::ChatMessage* u = request.mutable_chat()->add_messages();
  u->set_role("user");
  u->set_content(user);
  return request;
}

TEST(RoutingKeyTest, RequestsSharingALongSystemPromptShareTheirKey) {
  const std::string system(400, 's');
  RoutingKeyOptions options;
  options.prefix_chars = 256;
  const std::string a = RoutingKey(Chat(system, "first question"), options);
  const std::string b = RoutingKey(Chat(system, "another question"), options);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 256u + 5u);  // "chat:" + 256 characters of messages
  EXPECT_NE(a, RoutingKey(Chat(std::string(400, 't'), "first question"), options));
}

TEST(RoutingKeyTest, ShortPromptsAreKeyedWhole) {
  RoutingKeyOptions options;
  EXPECT_EQ(RoutingKey(Chat("be brief", "hi"), options), "chat:system\nbe brief\nuser\nhi\n");
  EXPECT_NE(RoutingKey(Chat("be brief", "hi"), options), RoutingKey(Chat("be brief", "hello"), options));
}

TEST(RoutingKeyTest, TextAndTokenPrompts) {
  RoutingKeyOptions options;
  options.prefix_chars = 5;
  options.prefix_tokens = 3;
  v1::GenerateRequest text;
  text.set_text("Once upon a time");
  EXPECT_EQ(RoutingKey(text, options), "text:Once ");
  v1::GenerateRequest ids;
  for (int id : {7, 8, 9, 10}) ids.mutable_token_ids()->add_ids(id);
  EXPECT_EQ(RoutingKey(ids, options), "ids:7,8,9,");
  EXPECT_EQ(RoutingKey(v1::GenerateRequest(), options), "");
}

}  // namespace
}  // namespace tessera::router
