//===- Conversation.cpp ---------------------------------------------------===//
#include "runtime/Conversation.h"

#include <chrono>

namespace lfm2c::rt {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
} // namespace

Conversation::Conversation(Session &session, const Tokenizer &tokenizer,
                           const SamplingParams &sampling,
                           std::vector<std::string> toolsJson)
    : session_(session), tokenizer_(tokenizer),
      sampler_(sampling, session.info().vocabSize),
      tools_(std::move(toolsJson)) {}

Status Conversation::feed(const std::vector<int32_t> &tokens) {
  std::vector<int32_t> batch = carry_;
  batch.insert(batch.end(), tokens.begin(), tokens.end());
  carry_.clear();
  if (batch.empty()) {
    return Status::ok();
  }
  if (onFeed) {
    onFeed(batch);
  }
  auto start = Clock::now();
  if (Status st = session_.eval(batch, false, logits_); !st) {
    return st;
  }
  stats_.prefillSeconds += since(start);
  stats_.promptTokens += static_cast<int64_t>(batch.size());
  history_.insert(history_.end(), batch.begin(), batch.end());
  started_ = true;
  return Status::ok();
}

Status Conversation::feedText(const std::string &text) {
  // Special tokens in the rendered chat (<|im_start|> ...) are parsed as
  // such; BOS is part of the rendered text, never added twice.
  return feed(tokenizer_.encode(text, /*addBos=*/false, /*parseSpecial=*/true));
}

std::string Conversation::pendingText() {
  std::string text;
  if (!started_) {
    const TokenizerData &d = tokenizer_.data();
    std::string bos = d.addBos && d.bos >= 0 ? tokenizer_.tokenText(d.bos) : "";
    text = renderChat(unsent_, tools_, /*addGenerationPrompt=*/true, bos);
  } else if (replyOpen_) {
    text = renderContinuation(unsent_);
  } else {
    text = renderChat(unsent_, {}, /*addGenerationPrompt=*/true, "");
  }
  unsent_.clear();
  replyOpen_ = false;
  return text;
}

Status Conversation::forceReply(const std::string &text) {
  if (Status st = feedText(pendingText() + text); !st) {
    return st;
  }
  replyOpen_ = true;
  return Status::ok();
}

Status Conversation::sendRaw(const std::string &text) {
  std::vector<int32_t> ids =
      tokenizer_.encode(text, tokenizer_.data().addBos && !started_, true);
  return feed(ids);
}

StatusOr<Reply>
Conversation::reply(int64_t maxTokens,
                    const std::function<void(std::string_view)> &onText,
                    const std::atomic<bool> *stop) {
  if (!unsent_.empty() || !started_) {
    if (Status st = feedText(pendingText()); !st) {
      return st;
    }
  } else if (Status st = feed({}); !st) {
    return st;
  }
  Reply r;
  StreamDecoder stream(tokenizer_);
  auto start = Clock::now();
  for (int64_t n = 0;; ++n) {
    if (stop && stop->load()) {
      r.stop = StopReason::Interrupted;
      break;
    }
    if (n == maxTokens) {
      r.stop = StopReason::MaxTokens;
      break;
    }
    const int64_t vocab = session_.info().vocabSize;
    int32_t next =
        sampler_.sample(logits_.data() + logits_.size() - vocab, history_);
    if (!ignoreEndOfGeneration && tokenizer_.isEndOfGeneration(next)) {
      r.stop = StopReason::EndOfGeneration;
      break;
    }
    r.tokens.push_back(next);
    std::string piece = stream.feed(next);
    r.text += piece;
    if (onText && !piece.empty()) {
      onText(piece);
    }
    ++stats_.generatedTokens;
    // The token is fed on the next iteration, or carried into the next
    // batch if the reply stops here.
    carry_ = {next};
    if (n + 1 == maxTokens || (stop && stop->load())) {
      continue;
    }
    std::vector<int32_t> one = carry_;
    carry_.clear();
    if (onFeed) {
      onFeed(one);
    }
    if (Status st = session_.eval(one, false, logits_); !st) {
      return st;
    }
    history_.push_back(next);
  }
  std::string rest = stream.flush();
  r.text += rest;
  if (onText && !rest.empty()) {
    onText(rest);
  }
  stats_.decodeSeconds += since(start);
  replyOpen_ = true;
  return r;
}

} // namespace lfm2c::rt
