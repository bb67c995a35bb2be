//===- ChatTest.cpp -------------------------------------------------------===//
#include "runtime/Chat.h"

#include <gtest/gtest.h>

using namespace lfm2c::rt;

TEST(Chat, RendersLikeTheLFM2Template) {
  // Expected strings derived by hand from the chat_template of the fixture's
  // tokenizer_config.json.
  EXPECT_EQ(renderChat({{"user", "Hi"}}, {}, true),
            "<|startoftext|><|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(renderChat({{"system", "Be brief."}, {"user", "Hi"}}, {}, false),
            "<|startoftext|><|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(Chat, AppendsToolListToTheSystemPrompt) {
  const std::string tool = R"({"name": "get_weather", "parameters": {}})";
  EXPECT_EQ(renderChat({{"system", "S"}, {"user", "U"}}, {tool, tool}, true),
            "<|startoftext|><|im_start|>system\nS\nList of tools: "
            "<|tool_list_start|>[" +
                tool + ", " + tool +
                "]<|tool_list_end|><|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
                "<|im_start|>assistant\n");
  // Without a system message the list stands alone.
  EXPECT_EQ(
      renderChat({{"user", "U"}}, {tool}, false),
      "<|startoftext|><|im_start|>system\nList of tools: "
      "<|tool_list_start|>[" +
          tool +
          "]<|tool_list_end|><|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
}

TEST(Chat, ToolResultsAreWrapped) {
  EXPECT_EQ(renderChat({{"tool", "{\"t\": 21}"}}, {}, false, ""),
            "<|im_start|>tool\n<|tool_response_start|>{\"t\": 21}"
            "<|tool_response_end|><|im_end|>\n");
}

TEST(Chat, ContinuationExtendsTheFullRendering) {
  std::vector<ChatMessage> turn1 = {{"user", "A"}};
  std::string prefix = renderChat(turn1, {}, true);
  std::string reply = "B";
  std::vector<ChatMessage> all = {
      {"user", "A"}, {"assistant", reply}, {"user", "C"}};
  EXPECT_EQ(prefix + reply + renderContinuation({{"user", "C"}}),
            renderChat(all, {}, true));
}

TEST(Chat, ParsesPythonicToolCalls) {
  auto calls = parseToolCalls(
      "Let me check.<|tool_call_start|>[get_weather(city=\"Paris\", days=2, "
      "metric=True, extra=None, tags=['a', \"b\"], opts={'x': 1.5}), "
      "now()]<|tool_call_end|>");
  ASSERT_TRUE(calls.isOk()) << calls.status().message();
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ((*calls)[0].name, "get_weather");
  EXPECT_EQ((*calls)[0].argumentsJson,
            R"({"city":"Paris","days":2,"extra":null,"metric":true,)"
            R"("opts":{"x":1.5},"tags":["a","b"]})");
  EXPECT_EQ((*calls)[1].name, "now");
  EXPECT_EQ((*calls)[1].argumentsJson, "{}");
  EXPECT_EQ(toolCallsToJson(*calls),
            R"({"tool_calls":[{"arguments":{"city":"Paris","days":2,)"
            R"("extra":null,"metric":true,"opts":{"x":1.5},"tags":["a","b"]},)"
            R"("name":"get_weather"},{"arguments":{},"name":"now"}]})");
  EXPECT_EQ(stripToolCalls("Let me check.<|tool_call_start|>[now()]"
                           "<|tool_call_end|> Done."),
            "Let me check. Done.");
}

TEST(Chat, ParsesJsonToolCalls) {
  auto calls = parseToolCalls(
      R"(<|tool_call_start|>[{"name": "f", "arguments": {"a": "x"}}])"
      "<|tool_call_end|>");
  ASSERT_TRUE(calls.isOk()) << calls.status().message();
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].name, "f");
  EXPECT_EQ((*calls)[0].argumentsJson, R"({"a":"x"})");
}

TEST(Chat, MalformedCallsGiveErrors) {
  for (const char *bad : {"<|tool_call_start|>[f(a=)]<|tool_call_end|>",
                          "<|tool_call_start|>[f(a=\"x)]<|tool_call_end|>",
                          "<|tool_call_start|>[f(a=1]<|tool_call_end|>",
                          "<|tool_call_start|>f()<|tool_call_end|>",
                          "<|tool_call_start|>[f()]"}) {
    auto calls = parseToolCalls(bad);
    EXPECT_FALSE(calls.isOk()) << bad;
    if (!calls.isOk()) {
      EXPECT_NE(calls.status().message().find("tool call"), std::string::npos);
    }
  }
  auto none = parseToolCalls("no calls here");
  ASSERT_TRUE(none.isOk());
  EXPECT_TRUE(none->empty());
}
