//===- Main.cpp - The command line of every compiled model --------------===//
//
// Linked into each binary `lfm2c compile` writes. The model itself comes
// from the generated program; this file parses flags and drives a Session:
//
//   OUT -p "text"          one chat turn, the answer streamed as generated
//   OUT chat               interactive multi-turn chat on one KV cache
//   OUT --tokens 1,2,3     token ids in, greedy ids out (--dump-logits)
//   OUT --bench pp512,tg128  speed tests, llama-bench style (--json)
//
//===----------------------------------------------------------------------===//
#include "runtime/Conversation.h"
#include "runtime/PeakRss.h"
#include "runtime/Session.h"
#include "runtime/ThreadPool.h"
#include "runtime/Tokenizer.h"

#include <CLI/CLI.hpp>
#include <HalideRuntime.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace {

using lfm2c::Status;
using lfm2c::StatusOr;
using namespace lfm2c::rt;

constexpr const char *kVersion = "0.1.0";

std::atomic<bool> gInterrupted{false};

void onSigint(int) { gInterrupted.store(true); }

// Ctrl-C stops the current generation; the session goes on.
void installSigint() {
  struct sigaction sa{};
  sa.sa_handler = onSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
}

StatusOr<std::vector<int32_t>> parseTokens(const std::string &text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size() || v < INT32_MIN || v > INT32_MAX) {
        throw std::invalid_argument(item);
      }
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception &) {
      return Status::error("--tokens: '" + item +
                           "' is not a token id (expected e.g. 1,2,3)");
    }
  }
  if (ids.empty()) {
    return Status::error("--tokens: no token ids given");
  }
  return ids;
}

// The weights beside the program, named like it with ".weights" appended.
std::string defaultWeightsPath(const char *argv0) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string exe = n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv0;
  return exe + ".weights";
}

// Writes rows through a temporary file so a failed run leaves nothing.
Status writeLogits(const std::string &path, const std::vector<float> &rows) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      return Status::error("--dump-logits: cannot write '" + path + "'");
    }
    out.write(reinterpret_cast<const char *>(rows.data()),
              static_cast<std::streamsize>(rows.size() * sizeof(float)));
    if (!out) {
      std::remove(tmp.c_str());
      return Status::error("--dump-logits: write to '" + path + "' failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::error("--dump-logits: cannot rename into '" + path + "'");
  }
  return Status::ok();
}

int fail(const Status &st) {
  std::fprintf(stderr, "error: %s\n", st.message().c_str());
  return 1;
}

struct Options {
  std::string tokensText, dumpPath, weightsPath, prompt, system, toolsPath,
      logTokensPath;
  int64_t nPredict = -1, ctxSize = 0;
  bool raw = false, stats = false, ignoreEos = false, profile = false;
  SamplingParams sampling;
};

// --profile: the time of each kernel since the last reset, most first.
void printKernelTimes(const Session &s, const char *title) {
  const std::vector<Session::KernelTime> times = s.kernelTimes();
  double total = 0;
  for (const Session::KernelTime &t : times) {
    total += t.seconds;
  }
  std::fprintf(stderr,
               "kernel profile%s%s: wall time of the calling thread\n"
               "| kernel | calls | ms | %% | us/call |\n"
               "| --- | ---: | ---: | ---: | ---: |\n",
               *title ? ", " : "", title);
  for (const Session::KernelTime &t : times) {
    std::fprintf(stderr, "| %s | %lld | %.3f | %.1f | %.1f |\n",
                 t.kernel.c_str(), static_cast<long long>(t.calls),
                 1e3 * t.seconds, total > 0 ? 100 * t.seconds / total : 0.0,
                 1e6 * t.seconds / t.calls);
  }
  std::fprintf(stderr, "| all kernels | | %.3f | 100.0 | |\n", 1e3 * total);
}

int runTokens(Session &s, const Options &o) {
  auto tokens = parseTokens(o.tokensText);
  if (!tokens) {
    return fail(tokens.status());
  }
  const int64_t vocab = s.info().vocabSize;
  const int64_t nPredict = o.nPredict < 0 ? 16 : o.nPredict;
  const bool dumping = !o.dumpPath.empty();
  std::vector<float> rows, logits;
  if (Status st = s.eval(*tokens, dumping, logits); !st) {
    return fail(st);
  }
  if (dumping) {
    rows.insert(rows.end(), logits.begin(), logits.end());
  }
  for (int64_t step = 0; step < nPredict; ++step) {
    int32_t next = argmax(logits.data() + logits.size() - vocab, vocab);
    std::printf(step == 0 ? "%d" : " %d", next);
    std::fflush(stdout);
    if (step + 1 == nPredict) {
      break;
    }
    if (Status st = s.eval({next}, false, logits); !st) {
      std::printf("\n");
      return fail(st);
    }
    if (dumping) {
      rows.insert(rows.end(), logits.begin(), logits.end());
    }
  }
  std::printf("\n");
  if (dumping) {
    if (Status st = writeLogits(o.dumpPath, rows); !st) {
      return fail(st);
    }
  }
  return 0;
}

StatusOr<std::vector<std::string>> readTools(const std::string &path) {
  std::vector<std::string> tools;
  if (path.empty()) {
    return tools;
  }
  // One JSON object per line: the tool definitions as the model sees them.
  std::ifstream in(path);
  if (!in) {
    return Status::error("--tools: cannot read '" + path + "'");
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      tools.push_back(line);
    }
  }
  return tools;
}

void printStats(const Conversation &c) {
  const GenerationStats &s = c.stats();
  std::fprintf(stderr,
               "\nprefill: %lld tokens in %.3f s (%.1f tokens/s)\n"
               "decode:  %lld tokens in %.3f s (%.1f tokens/s)\n",
               static_cast<long long>(s.promptTokens), s.prefillSeconds,
               s.prefillSeconds > 0 ? s.promptTokens / s.prefillSeconds : 0.0,
               static_cast<long long>(s.generatedTokens), s.decodeSeconds,
               s.decodeSeconds > 0 ? s.generatedTokens / s.decodeSeconds : 0.0);
}

void printToolCalls(const std::string &text) {
  auto calls = parseToolCalls(text);
  if (!calls) {
    std::fprintf(stderr, "warning: %s\n", calls.status().message().c_str());
  } else if (!calls->empty()) {
    std::printf("%s\n", toolCallsToJson(*calls).c_str());
  }
  std::fflush(stdout);
}

// Streams one reply; returns false on a hard error.
bool streamReply(Conversation &c, int64_t maxTokens) {
  gInterrupted.store(false);
  auto reply = c.reply(
      maxTokens,
      [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      },
      &gInterrupted);
  std::printf("\n");
  if (!reply) {
    fail(reply.status());
    return false;
  }
  if (reply->stop == StopReason::Interrupted) {
    std::fprintf(stderr, "[interrupted]\n");
  }
  printToolCalls(reply->text);
  return true;
}

int runPrompt(Session &s, const Tokenizer &tok, const Options &o,
              const std::vector<std::string> &tools,
              const std::function<void(const std::vector<int32_t> &)> &log) {
  Conversation c(s, tok, o.sampling, tools);
  c.onFeed = log;
  c.ignoreEndOfGeneration = o.ignoreEos;
  const int64_t maxTokens = o.nPredict < 0 ? 512 : o.nPredict;
  if (o.raw) {
    if (Status st = c.sendRaw(o.prompt); !st) {
      return fail(st);
    }
  } else {
    if (!o.system.empty()) {
      c.add({"system", o.system});
    }
    c.add({"user", o.prompt});
  }
  if (!streamReply(c, maxTokens)) {
    return 1;
  }
  if (o.stats) {
    printStats(c);
  }
  return 0;
}

const char *kChatHelp =
    "Type a message and press Enter. Commands:\n"
    "  /tool TEXT       send a tool result and get the reply\n"
    "  /user TEXT       add a user message without replying yet\n"
    "  /assistant TEXT  use TEXT as the assistant's reply (tool calls in it\n"
    "                   are parsed)\n"
    "  /reset           start a new conversation\n"
    "  /exit            quit (also end of input)\n"
    "Ctrl-C stops a reply being generated.\n";

int runChat(Session &s, const Tokenizer &tok, const Options &o,
            const std::vector<std::string> &tools,
            const std::function<void(const std::vector<int32_t> &)> &log) {
  const int64_t maxTokens = o.nPredict < 0 ? 1024 : o.nPredict;
  auto fresh = [&] {
    auto c = std::make_unique<Conversation>(s, tok, o.sampling, tools);
    c->onFeed = log;
    c->ignoreEndOfGeneration = o.ignoreEos;
    if (!o.system.empty()) {
      c->add({"system", o.system});
    }
    return c;
  };
  std::unique_ptr<Conversation> c = fresh();
  const bool interactive = isatty(STDIN_FILENO);
  if (interactive) {
    std::fprintf(stderr, "%s", kChatHelp);
  }
  std::string line;
  while (true) {
    if (interactive) {
      std::fprintf(stderr, "> ");
    }
    gInterrupted.store(false);
    if (!std::getline(std::cin, line)) {
      if (gInterrupted.load() && !std::cin.eof()) {
        std::cin.clear();
        continue;
      }
      break;
    }
    auto command = [&](const char *name) -> std::optional<std::string> {
      std::string prefix = std::string(name);
      if (line == prefix) {
        return std::string();
      }
      if (line.rfind(prefix + " ", 0) == 0) {
        return line.substr(prefix.size() + 1);
      }
      return std::nullopt;
    };
    if (line == "/exit" || line == "/quit") {
      break;
    }
    if (line == "/reset") {
      s.reset();
      c = fresh();
      continue;
    }
    if (line == "/help") {
      std::fprintf(stderr, "%s", kChatHelp);
      continue;
    }
    if (auto text = command("/user")) {
      c->add({"user", *text});
      continue;
    }
    if (auto text = command("/assistant")) {
      if (Status st = c->forceReply(*text); !st) {
        return fail(st);
      }
      printToolCalls(*text);
      continue;
    }
    if (auto text = command("/tool")) {
      c->add({"tool", *text});
    } else {
      c->add({"user", line});
    }
    if (!streamReply(*c, maxTokens)) {
      return 1;
    }
  }
  if (o.stats) {
    printStats(*c);
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// --bench: llama-bench-style speed tests on token ids (no tokenizer needed).
//
//   ppN     N prompt tokens in one batch from an empty state
//   tgN     N single-token greedy decode steps after a 1-token start
//   tgN@D   (ppN@D) the same after prefilling D tokens, which is not timed
//
// Each test resets the session, runs once untimed (warm-up), then
// --bench-reps timed runs; reported as mean +- sample stddev of tokens/s.
// Token ids come from a fixed-seed generator, so runs are comparable.

struct BenchOptions {
  std::string list;
  bool json = false;
  int reps = 3;
};

struct BenchTest {
  std::string name; // as given, e.g. "tg128@4096"
  bool prompt;      // pp (one batch) or tg (single-token steps)
  int64_t n;
  int64_t depth;
  // Positions the test fills: depth, the timed tokens, the tg start token.
  int64_t contextNeeded() const {
    return depth + n + (!prompt && depth == 0 ? 1 : 0);
  }
};

StatusOr<std::vector<BenchTest>> parseBenchList(const std::string &text) {
  std::vector<BenchTest> tests;
  std::stringstream ss(text);
  std::string item;
  auto number = [](const std::string &s, int64_t &v) {
    if (s.empty() || s.size() > 9 ||
        s.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    v = std::stoll(s);
    return true;
  };
  while (std::getline(ss, item, ',')) {
    BenchTest t{item, false, 0, 0};
    const std::string kind = item.substr(0, 2);
    const size_t at = item.find('@');
    const std::string n =
        item.substr(2, at == std::string::npos ? std::string::npos : at - 2);
    bool ok = (kind == "pp" || kind == "tg") && number(n, t.n) && t.n > 0;
    if (ok && at != std::string::npos) {
      ok = number(item.substr(at + 1), t.depth);
    }
    if (!ok) {
      return Status::error("--bench: '" + item +
                           "' is not a test (expected ppN, tgN or tgN@D, "
                           "e.g. pp512,tg128,tg128@4096)");
    }
    t.prompt = kind == "pp";
    tests.push_back(t);
  }
  if (tests.empty()) {
    return Status::error("--bench: no tests given");
  }
  return tests;
}

// The kernels' parallel loops on lfm2c's spinning pool (ThreadPool.h),
// installed as Halide's do_par_for; started at the first loop.
int spinningParFor(void *userContext, halide_task_t task, int min, int size,
                   uint8_t *closure) {
  static ThreadPool pool(defaultThreadCount());
  return pool.parallelFor(task, userContext, min, size, closure);
}

// One run of `t` from an empty state; returns timed tokens per second.
StatusOr<double> benchOnce(Session &s, const BenchTest &t, uint64_t &rng) {
  const int64_t vocab = s.info().vocabSize;
  auto randomIds = [&](int64_t n) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t &id : ids) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      id = static_cast<int32_t>((rng >> 33) % static_cast<uint64_t>(vocab));
    }
    return ids;
  };
  s.reset();
  // --profile counts the timed steps only.
  s.pauseProfiling(true);
  std::vector<float> logits;
  // The depth is prefilled in batches of 512 (as llama.cpp's ubatch), so
  // the scratch arena stays the size a 512-token batch needs.
  for (int64_t done = 0; done < t.depth;) {
    const int64_t n = std::min<int64_t>(512, t.depth - done);
    if (Status st = s.eval(randomIds(n), false, logits); !st) {
      return st;
    }
    done += n;
  }
  using Clock = std::chrono::steady_clock;
  if (t.prompt) {
    std::vector<int32_t> ids = randomIds(t.n);
    s.pauseProfiling(false);
    auto t0 = Clock::now();
    if (Status st = s.eval(ids, false, logits); !st) {
      return st;
    }
    return t.n / std::chrono::duration<double>(Clock::now() - t0).count();
  }
  if (t.depth == 0) {
    if (Status st = s.eval(randomIds(1), false, logits); !st) {
      return st;
    }
  }
  s.pauseProfiling(false);
  auto t0 = Clock::now();
  for (int64_t i = 0; i < t.n; ++i) {
    const int32_t next = argmax(logits.data(), s.info().vocabSize);
    if (Status st = s.eval({next}, false, logits); !st) {
      return st;
    }
  }
  return t.n / std::chrono::duration<double>(Clock::now() - t0).count();
}

// The stored type of the program's key or value caches, named as
// llama-bench's type_k / type_v ("none" without attention layers).
const char *cacheType(const ProgramInfo &info, StateKind kind) {
  for (int32_t i = 0; i < info.numStates; ++i) {
    if (info.states[i].kind == kind) {
      return info.states[i].elementBytes == 2 ? "f16" : "f32";
    }
  }
  return "none";
}

int runBench(const Options &o, const BenchOptions &b) {
  auto tests = parseBenchList(b.list);
  if (!tests) {
    return fail(tests.status());
  }
  if (b.reps < 1) {
    return fail(Status::error("--bench-reps: must be at least 1"));
  }
  // Without --ctx-size the context is what the longest test fills, not the
  // model's trained context (whose KV caches would dominate peak RSS).
  int64_t need = 0;
  const BenchTest *longest = nullptr;
  for (const BenchTest &t : *tests) {
    if (t.contextNeeded() > need) {
      need = t.contextNeeded();
      longest = &t;
    }
  }
  if (o.ctxSize > 0 && o.ctxSize < need) {
    return fail(Status::error(
        "--bench: " + longest->name + " needs a context of " +
        std::to_string(need) + " tokens; --ctx-size is " +
        std::to_string(o.ctxSize) + " (raise it, or leave it out)"));
  }
  const int64_t ctx = o.ctxSize > 0 ? o.ctxSize : need;
  auto session = Session::create(o.weightsPath, ctx);
  if (!session) {
    return fail(session.status());
  }
  Session &s = **session;
  s.setProfiling(o.profile);
  const ProgramInfo &info = s.info();
  const int threads = defaultThreadCount();
  if (!b.json) {
    std::printf("| model | target | test | t/s | threads | peak RSS | weights "
                "on 2 MiB pages |\n"
                "| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    std::fflush(stdout);
  }
  uint64_t rng = 0x5EED;
  for (const BenchTest &t : *tests) {
    resetPeakRss();
    // Warm-up: faults in the weights and starts the kernels' thread pool.
    BenchTest warm = t;
    warm.depth = 0;
    warm.n = t.prompt ? t.n : 1;
    if (auto r = benchOnce(s, warm, rng); !r) {
      return fail(r.status());
    }
    s.resetKernelTimes();
    std::vector<double> samples;
    for (int rep = 0; rep < b.reps; ++rep) {
      auto r = benchOnce(s, t, rng);
      if (!r) {
        return fail(r.status());
      }
      samples.push_back(*r);
    }
    double mean = 0, var = 0;
    for (double v : samples) {
      mean += v / samples.size();
    }
    for (double v : samples) {
      var += (v - mean) * (v - mean);
    }
    const double stddev =
        samples.size() > 1 ? std::sqrt(var / (samples.size() - 1)) : 0.0;
    const int64_t rss = peakRssBytes();
    // Decode speed depends on it (MappedFile.cpp), and it depends on how the
    // page cache read the file: reported so runs can be compared.
    const int64_t huge = s.weightsFile().hugePageBytes();
    const auto weightsBytes = static_cast<int64_t>(s.weightsFile().size());
    if (b.json) {
      nlohmann::json j = {{"model", info.modelName},
                          {"target", info.targetName},
                          {"test", t.name},
                          {"n_prompt", t.prompt ? t.n : 0},
                          {"n_gen", t.prompt ? 0 : t.n},
                          {"n_depth", t.depth},
                          {"reps", b.reps},
                          {"threads", threads},
                          {"ctx_size", s.contextSize()},
                          {"type_k", cacheType(info, StateKind::KeyCache)},
                          {"type_v", cacheType(info, StateKind::ValueCache)},
                          {"tokens_per_second", mean},
                          {"stddev", stddev},
                          {"samples_ts", samples},
                          {"peak_rss_bytes", rss},
                          {"weights_bytes", weightsBytes},
                          {"weights_huge_page_bytes", huge}};
      if (o.profile) {
        nlohmann::json kernels = nlohmann::json::array();
        for (const Session::KernelTime &k : s.kernelTimes()) {
          kernels.push_back({{"kernel", k.kernel},
                             {"calls", k.calls},
                             {"seconds", k.seconds}});
        }
        j["kernels"] = kernels;
      }
      std::printf("%s\n", j.dump().c_str());
    } else {
      char rssText[32] = "n/a";
      if (rss >= 0) {
        std::snprintf(rssText, sizeof(rssText), "%.1f MiB",
                      rss / (1024.0 * 1024.0));
      }
      char hugeText[32] = "n/a";
      if (huge >= 0 && weightsBytes > 0) {
        std::snprintf(hugeText, sizeof(hugeText), "%.0f%%",
                      100.0 * huge / weightsBytes);
      }
      std::printf("| %s | %s | %s | %.2f ± %.2f | %d | %s | %s |\n",
                  info.modelName, info.targetName, t.name.c_str(), mean, stddev,
                  threads, rssText, hugeText);
      std::fflush(stdout);
      if (o.profile) {
        const std::string title = t.name + ", " + std::to_string(b.reps) +
                                  " timed run" + (b.reps > 1 ? "s" : "");
        printKernelTimes(s, title.c_str());
      }
    }
    std::fflush(stdout);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  const ProgramInfo &info = *lfm2c_program_info();
  CLI::App app{std::string("LFM2 model '") + info.modelName +
               "' compiled by lfm2c for target " + info.targetName};
  app.set_version_flag("--version", std::string("lfm2c runtime ") + kVersion);
  app.require_subcommand(0, 1);

  Options o;
  const SamplingDefaults &d = info.sampling;
  o.sampling.temperature = d.temperature;
  o.sampling.topK = d.topK;
  o.sampling.topP = d.topP;
  o.sampling.minP = d.minP;
  o.sampling.repeatPenalty = d.repeatPenalty;

  app.add_option("-p,--prompt", o.prompt,
                 "Answer this prompt (one chat turn) and exit");
  app.add_option("--tokens", o.tokensText,
                 "Prompt as comma-separated token ids; prints greedy ids");
  app.add_option("-n,--max-tokens,--n-predict", o.nPredict,
                 "Tokens to generate (default: 16 for --tokens, 512 for -p)");
  app.add_option("--system", o.system, "System prompt");
  app.add_option("--tools", o.toolsPath,
                 "File with one JSON tool definition per line");
  app.add_flag("--raw", o.raw,
               "Treat -p as plain text, without the chat "
               "format");
  app.add_option("--temp", o.sampling.temperature, "Temperature (0: greedy)")
      ->capture_default_str();
  app.add_option("--top-k", o.sampling.topK, "Top-k (0: off)")
      ->capture_default_str();
  app.add_option("--top-p", o.sampling.topP, "Top-p (1: off)")
      ->capture_default_str();
  app.add_option("--min-p", o.sampling.minP, "Min-p (0: off)")
      ->capture_default_str();
  app.add_option("--repeat-penalty", o.sampling.repeatPenalty,
                 "Repetition penalty (1: off)")
      ->capture_default_str();
  app.add_option("--seed", o.sampling.seed, "Sampling seed (0: random)");
  app.add_option("-c,--ctx-size", o.ctxSize,
                 "Context size in tokens (default: the model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--stats", o.stats, "Print prefill and decode speed");
  app.add_flag("--profile", o.profile,
               "Time every kernel call; print the time per kernel to stderr "
               "after the run (with --bench: after each test, its timed runs "
               "only; with --json: a \"kernels\" list in its object)");
  app.add_flag("--ignore-eos", o.ignoreEos,
               "Keep generating past end-of-generation tokens");
  app.add_option("--dump-logits", o.dumpPath,
                 "With --tokens: write every evaluated row of logits "
                 "(float32, n_vocab per row) to this file");
  app.add_option("--weights", o.weightsPath,
                 "Weights file (default: this program's path + .weights)");
  app.add_option("--log-tokens", o.logTokensPath,
                 "Append every batch of token ids fed to the model to this "
                 "file, one line per batch");
  BenchOptions bench;
  app.add_option("--bench", bench.list,
                 "Speed tests on token ids, e.g. pp512,tg128,tg128@4096 "
                 "(ppN: N-token prompt; tgN: N decode steps; @D: after D "
                 "tokens of context); prints a table");
  app.add_flag("--json", bench.json,
               "With --bench: one JSON object per test and line");
  app.add_option("--bench-reps", bench.reps,
                 "With --bench: timed runs per test")
      ->capture_default_str();
  std::string threadPool = "spin";
  app.add_option("--thread-pool", threadPool,
                 "Threads of the kernels' parallel loops: spin (workers "
                 "wait spinning for ~2 ms between loops) or halide (Halide's "
                 "pool: they sleep at once); HL_NUM_THREADS sets how many")
      ->check(CLI::IsMember({"spin", "halide"}))
      ->capture_default_str();
  CLI::App *chat = app.add_subcommand("chat", "Interactive multi-turn chat");
  // Options of the model (sampling, --system ...) may follow `chat`.
  chat->fallthrough();
  CLI11_PARSE(app, argc, argv);

  const int modes =
      !o.tokensText.empty() + !o.prompt.empty() + !!*chat + !bench.list.empty();
  if (modes != 1) {
    std::fprintf(stderr, "error: give exactly one of -p TEXT, chat, "
                         "--tokens IDS or --bench TESTS (see --help)\n");
    return 2;
  }
  if (threadPool == "spin") {
    halide_set_custom_do_par_for(spinningParFor);
  }
  if (o.weightsPath.empty()) {
    o.weightsPath = defaultWeightsPath(argv[0]);
  }
  if (!bench.list.empty()) {
    return runBench(o, bench);
  }
  auto session = Session::create(o.weightsPath, o.ctxSize);
  if (!session) {
    return fail(session.status());
  }
  Session &s = **session;
  s.setProfiling(o.profile);
  // After the run, whatever it was (--profile).
  struct ProfileAtExit {
    const Session &s;
    bool on;
    ~ProfileAtExit() {
      if (on) {
        printKernelTimes(s, "");
      }
    }
  } profileAtExit{s, o.profile};
  if (!o.tokensText.empty()) {
    return runTokens(s, o);
  }

  if (info.tokenizerBytes == 0) {
    return fail(Status::error("this model was compiled without a tokenizer; "
                              "use --tokens"));
  }
  auto data = TokenizerData::deserialize(s.weightsData() + info.tokenizerOffset,
                                         info.tokenizerBytes);
  if (!data) {
    return fail(data.status());
  }
  auto tokenizer = Tokenizer::create(std::move(*data));
  if (!tokenizer) {
    return fail(tokenizer.status());
  }
  auto tools = readTools(o.toolsPath);
  if (!tools) {
    return fail(tools.status());
  }
  std::function<void(const std::vector<int32_t> &)> log;
  std::shared_ptr<std::ofstream> logFile;
  if (!o.logTokensPath.empty()) {
    logFile = std::make_shared<std::ofstream>(o.logTokensPath, std::ios::app);
    if (!*logFile) {
      return fail(Status::error("--log-tokens: cannot write '" +
                                o.logTokensPath + "'"));
    }
    log = [logFile](const std::vector<int32_t> &ids) {
      for (size_t i = 0; i < ids.size(); ++i) {
        *logFile << (i ? " " : "") << ids[i];
      }
      *logFile << "\n" << std::flush;
    };
  }
  installSigint();
  if (*chat) {
    return runChat(s, *tokenizer, o, *tools, log);
  }
  return runPrompt(s, *tokenizer, o, *tools, log);
}
