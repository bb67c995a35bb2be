//===- Chat.h - LFM2's chat format and tool calls -------------------------===//
//
// The one chat format LFM2 models use (ChatML-like, see the architecture
// reference section 4), written natively rather than through a template
// engine, and the parser of the tool calls the model emits:
//   <|tool_call_start|>[get_weather(city="Paris", days=2)]<|tool_call_end|>
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_CHAT_H
#define LFM2C_RUNTIME_CHAT_H

#include "runtime/Status.h"

#include <string>
#include <string_view>
#include <vector>

namespace lfm2c::rt {

struct ChatMessage {
  std::string role; // system, user, assistant, tool
  std::string content;
};

// Renders a conversation exactly as LFM2's chat template does: BOS, the
// system turn (with the tool list appended when tools are given), every
// message, and "<|im_start|>assistant\n" when a reply is wanted. Tools are
// JSON objects, written into the list as given.
std::string renderChat(const std::vector<ChatMessage> &messages,
                       const std::vector<std::string> &toolsJson,
                       bool addGenerationPrompt,
                       const std::string &bos = "<|startoftext|>");

// The text appended to a conversation whose last assistant reply ended at
// its final generated token: closes that reply and adds `next` (user or tool
// turns) and the generation prompt. Lets a session continue on its KV cache
// without re-rendering earlier turns.
std::string renderContinuation(const std::vector<ChatMessage> &next);

struct ToolCall {
  std::string name;
  std::string argumentsJson; // a JSON object
};

// Finds every <|tool_call_start|>...<|tool_call_end|> span in `text` and
// parses its call list: Pythonic `[f(a=1, b="x"), g()]` (what LFM2 emits) or
// JSON `[{"name": ..., "arguments": {...}}]`. Errors say what was expected
// where.
StatusOr<std::vector<ToolCall>> parseToolCalls(std::string_view text);

// `text` with the tool-call spans removed (what to show as the answer).
std::string stripToolCalls(std::string_view text);

// {"tool_calls":[{"name":...,"arguments":{...}}, ...]} on one line.
std::string toolCallsToJson(const std::vector<ToolCall> &calls);

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_CHAT_H
