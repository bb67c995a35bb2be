//===- Main.cpp - The command line of every compiled model --------------===//
//
// Linked into each binary `lfm2c compile` writes. The model itself comes
// from the generated program; this file only parses flags, runs a Session
// and prints or dumps what was asked.
//
//===----------------------------------------------------------------------===//
#include "runtime/Session.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace {

using lfm2c::Status;
using lfm2c::StatusOr;
using lfm2c::rt::Session;

constexpr const char *kVersion = "0.1.0";

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

// Where the weights are when --weights is not given: beside the program,
// named like it with ".weights" appended.
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

} // namespace

int main(int argc, char **argv) {
  const lfm2c::rt::ProgramInfo &info = *lfm2c_program_info();
  CLI::App app{std::string("LFM2 model '") + info.modelName +
               "' compiled by lfm2c for target " + info.targetName};
  app.set_version_flag("--version", std::string("lfm2c runtime ") + kVersion);

  std::string tokensText, dumpPath, weightsPath;
  int64_t nPredict = 16, ctxSize = 0;
  app.add_option("--tokens", tokensText,
                 "Prompt as comma-separated token ids, e.g. 1,2,3")
      ->required();
  app.add_option("-n,--n-predict", nPredict,
                 "Tokens to generate greedily after the prompt")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--dump-logits", dumpPath,
                 "Write every evaluated row of logits (float32, little "
                 "endian, n_vocab per row) to this file");
  app.add_option("--weights", weightsPath,
                 "Weights file (default: this program's path + .weights)");
  app.add_option("-c,--ctx-size", ctxSize,
                 "Context size in tokens (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  auto tokens = parseTokens(tokensText);
  if (!tokens) {
    return fail(tokens.status());
  }
  if (weightsPath.empty()) {
    weightsPath = defaultWeightsPath(argv[0]);
  }
  auto session = Session::create(weightsPath, ctxSize);
  if (!session) {
    return fail(session.status());
  }
  Session &s = **session;
  const int64_t vocab = info.vocabSize;
  const bool dumping = !dumpPath.empty();

  std::vector<float> rows, logits;
  if (Status st = s.eval(*tokens, dumping, logits); !st) {
    return fail(st);
  }
  if (dumping) {
    rows.insert(rows.end(), logits.begin(), logits.end());
  }
  std::vector<int32_t> generated;
  for (int64_t step = 0; step < nPredict; ++step) {
    const float *last = logits.data() + logits.size() - vocab;
    int32_t next = lfm2c::rt::argmax(last, vocab);
    generated.push_back(next);
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
    if (Status st = writeLogits(dumpPath, rows); !st) {
      return fail(st);
    }
  }
  return 0;
}
