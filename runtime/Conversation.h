//===- Conversation.h - Prompting and chatting over one Session ---------===//
//
// A Conversation renders chat turns in LFM2's format, feeds only what the
// session has not seen yet (earlier turns stay in the KV cache and conv
// state, never re-prefilled), and generates replies token by token with a
// Sampler, streaming complete UTF-8 text as it is produced.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_CONVERSATION_H
#define LFM2C_RUNTIME_CONVERSATION_H

#include "runtime/Chat.h"
#include "runtime/Sampler.h"
#include "runtime/Session.h"
#include "runtime/Tokenizer.h"

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lfm2c::rt {

struct GenerationStats {
  int64_t promptTokens = 0, generatedTokens = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
};

enum class StopReason { EndOfGeneration, MaxTokens, Interrupted };

struct Reply {
  std::string text;
  std::vector<int32_t> tokens;
  StopReason stop = StopReason::MaxTokens;
};

class Conversation {
public:
  Conversation(Session &session, const Tokenizer &tokenizer,
               const SamplingParams &sampling,
               std::vector<std::string> toolsJson = {});

  // Adds a message (system, user, tool) to be sent with the next reply.
  void add(ChatMessage message) { unsent_.push_back(std::move(message)); }
  // Sends the unsent messages and generates the assistant's reply,
  // streaming its text to onText. Stops at an end-of-generation token, after
  // maxTokens, or when *stop becomes true.
  StatusOr<Reply> reply(int64_t maxTokens,
                        const std::function<void(std::string_view)> &onText,
                        const std::atomic<bool> *stop);
  // Sends the unsent messages and `text` as the assistant's reply instead of
  // generating one (prefilling the assistant's turn).
  Status forceReply(const std::string &text);
  // Plain completion: BOS (if the tokenizer adds one) and `text`, no chat
  // format.
  Status sendRaw(const std::string &text);

  // Generate past end-of-generation tokens (benchmarks, tests).
  bool ignoreEndOfGeneration = false;
  // Called with every batch of token ids fed to the model.
  std::function<void(const std::vector<int32_t> &)> onFeed;
  const GenerationStats &stats() const { return stats_; }

private:
  // The text that brings the session up to the start of the reply.
  std::string pendingText();
  Status feed(const std::vector<int32_t> &tokens);
  Status feedText(const std::string &text);

  Session &session_;
  const Tokenizer &tokenizer_;
  Sampler sampler_;
  std::vector<std::string> tools_;
  std::vector<ChatMessage> unsent_;
  bool started_ = false;   // anything fed yet
  bool replyOpen_ = false; // an assistant reply fed but not closed
  // A sampled token shown to the user but not yet fed (the reply stopped
  // right after it); it goes in front of the next batch.
  std::vector<int32_t> carry_;
  std::vector<int32_t> history_;
  std::vector<float> logits_;
  GenerationStats stats_;
};

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_CONVERSATION_H
