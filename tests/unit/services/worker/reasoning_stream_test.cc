// The streaming reasoning split must agree with the whole-text split (engine/reasoning_parser.h) however the text
// is cut into deltas, and must never show part of a <think> tag.
#include "services/worker/reasoning_stream.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/worker/engine/reasoning_parser.h"

namespace tessera::worker {
namespace {

ReasoningDelta StreamInPieces(const std::string& parser, const std::string& text, size_t piece) {
  ReasoningStreamParser stream(parser);
  ReasoningDelta total;
  for (size_t at = 0; at < text.size(); at += piece) {
    ReasoningDelta d = stream.Push(std::string_view(text).substr(at, piece));
    EXPECT_EQ(d.reasoning.find('<'), std::string::npos) << "a tag leaked into reasoning: " << d.reasoning;
    total.reasoning += d.reasoning;
    total.content += d.content;
  }
  ReasoningDelta rest = stream.Finish();
  total.reasoning += rest.reasoning;
  total.content += rest.content;
  return total;
}

TEST(ReasoningStreamTest, AgreesWithWholeTextSplitForEveryPieceSize) {
  const std::vector<std::string> texts = {
      "<think>let me see</think>The answer is 4.",
      "no tags: the reasoning never closed",
      "thinking straight away</think>answer",
      "<think>\n\n</think>\n\njust the answer",
      "<think>unfinished thought",
  };
  for (const std::string& parser : {std::string("deepseek_r1"), std::string("qwen3")}) {
    for (const std::string& text : texts) {
      const engine::ReasoningSplit whole = engine::SplitReasoning(parser, text);
      // qwen3 streams text before any tag as content, and cannot know in advance that an opened think block will
      // never close; those two cases differ from the whole-text split by design.
      const bool streaming_differs =
          parser == "qwen3" && (text.rfind("thinking straight", 0) == 0 || text.rfind("<think>unfinished", 0) == 0);
      if (streaming_differs) continue;
      for (size_t piece : {1, 2, 3, 5, 8, 1000}) {
        SCOPED_TRACE(parser + " | " + text + " | piece " + std::to_string(piece));
        ReasoningDelta streamed = StreamInPieces(parser, text, piece);
        EXPECT_EQ(streamed.reasoning, whole.reasoning_content.value_or(""));
        EXPECT_EQ(streamed.content, whole.content.value_or(""));
      }
    }
  }
}

TEST(ReasoningStreamTest, Qwen3TreatsUntaggedOutputAsContentAndOpenedBlockAsReasoning) {
  EXPECT_EQ(StreamInPieces("qwen3", "plain answer", 2).content, "plain answer");
  ReasoningDelta opened = StreamInPieces("qwen3", "<think>hmm", 3);
  EXPECT_EQ(opened.reasoning, "hmm");
  EXPECT_EQ(opened.content, "");
}

TEST(ReasoningStreamTest, HoldsBackAPossibleTagUntilItIsDecided) {
  ReasoningStreamParser stream("deepseek_r1");
  ReasoningDelta first = stream.Push("thought</thi");
  EXPECT_EQ(first.reasoning, "thought");
  ReasoningDelta second = stream.Push("nk>answer");
  EXPECT_EQ(second.reasoning, "");
  EXPECT_EQ(second.content, "answer");

  ReasoningStreamParser not_a_tag("deepseek_r1");
  EXPECT_EQ(not_a_tag.Push("a </").reasoning, "a ");
  EXPECT_EQ(not_a_tag.Push("b> c").reasoning, "</b> c");
  EXPECT_EQ(not_a_tag.Push("<").reasoning, "");
  EXPECT_EQ(not_a_tag.Finish().reasoning, "<");
}

}  // namespace
}  // namespace tessera::worker
