//===- KernelObject.cpp - One kernel compiled ahead of time --------------===//
//
// Halide 21 lowers Func::prefetch to LLVM's prefetch with locality 0, the
// non-temporal hint, and offers no other. On the decode GEMV's weight
// streams that is the wrong one: with prefetchnta a decode projection's
// bandwidth halved (in_proj 25 -> 14 GB/s on an AVX-512 Xeon; a streaming
// loop 17 -> 6 GB/s a core), while prefetcht0 at the same distance made
// 8B-A1B Q4_0 decode 10% faster.
// The kernels that prefetch are therefore compiled to assembly, their hint
// rewritten, and assembled by the target's driver. Custom lowering passes
// also mend Halide's split of a prefetch into cache lines, which steps
// over lines for elements wider than a byte (fp16 scales, f32 KV rows), and
// unroll the short loops of prefetches that sit inside the decode kernels'
// block loops (a Q4_0 tile's 16 lines of quants and 4 of scales took ~70
// instructions as two nested loops: 8B-A1B Q4_0 tg128 30.1-30.6 -> 31.0-31.4
// t/s unrolled, three alternating pairs on the AVX-512 Xeon).
//
//===----------------------------------------------------------------------===//
#include "codegen/KernelObject.h"

#include "codegen/Subprocess.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace lfm2c {

namespace {

// Replaces the instruction `from` (a whole mnemonic with its operand
// prefix, at the start of a line after indentation) by `to`.
int rewriteInstruction(std::string &text, const std::string &from,
                       const std::string &to) {
  int count = 0;
  size_t at = 0;
  while ((at = text.find(from, at)) != std::string::npos) {
    size_t lineStart = text.rfind('\n', at);
    lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
    const bool indented =
        text.find_first_not_of(" \t", lineStart) == at && at > lineStart;
    const size_t end = at + from.size();
    const bool whole =
        end < text.size() &&
        (text[end] == ' ' || text[end] == '\t' || text[end] == ',');
    if (indented && whole) {
      text.replace(at, from.size(), to);
      ++count;
      at += to.size();
    } else {
      at = end;
    }
  }
  return count;
}

// Halide 21 splits a prefetch into one per cache line, but steps its
// element offset by the line's bytes: for f16 scales it prefetches every
// other line, for f32 rows every fourth. Rewrites each such loop
//   for (prefetch_split_B.i, 0, lines) prefetch(B, o + i * 64, 1, 64 / size)
// to step 64 / size elements (the call's last argument: a line in elements;
// 32-byte lines on Arm), one line per iteration, as intended.
class WholeLinePrefetches : public Halide::Internal::IRMutator {
  using IRMutator::visit;

  Halide::Internal::Stmt visit(const Halide::Internal::For *op) override {
    using namespace Halide::Internal;
    const auto *eval = op->body.as<Evaluate>();
    const Call *call = eval ? eval->value.as<Call>() : nullptr;
    const int size = call ? call->type.bytes() : 1;
    if (!call || !call->is_intrinsic(Call::prefetch) || size <= 1 ||
        op->name.rfind("prefetch_split_", 0) != 0 || call->args.size() != 4) {
      return IRMutator::visit(op);
    }
    Halide::Expr var = Variable::make(Halide::Int(32), op->name);
    Halide::Expr start = simplify(substitute(op->name, 0, call->args[1]));
    std::vector<Halide::Expr> args = call->args;
    args[1] = start + var * call->args[3];
    Stmt body = Evaluate::make(
        Call::make(call->type, Call::prefetch, args, Call::Intrinsic));
    return For::make(op->name, op->min, op->extent, op->for_type,
                     op->partition_policy, op->device_api, body);
  }
};

// Unrolls the loops of prefetches (Halide's split into lines and its loops
// over a prefetched region's other dimensions) with constant extents of at
// most kMaxPrefetchesUnrolled: as loops they cost three or four
// instructions of bookkeeping per prefetch, inside the decode kernels'
// innermost loops. 32 covers a Q8_0 tile of 4 row groups (8 lines each); a
// larger rowTileGroups or a Q6_K super-block (52 lines a group) keeps its
// loop (the Q6_K head unrolled measured the same).
class UnrolledPrefetchLoops : public Halide::Internal::IRMutator {
  using IRMutator::visit;
  static constexpr int64_t kMaxPrefetchesUnrolled = 32;
  static constexpr int64_t kTooMany = kMaxPrefetchesUnrolled + 1;

  // The prefetches in s, saturated at kTooMany; kTooMany too where s holds
  // anything else or a loop of runtime extent.
  static int64_t prefetchCount(const Halide::Internal::Stmt &s) {
    using namespace Halide::Internal;
    if (const auto *e = s.as<Evaluate>()) {
      const Call *c = e->value.as<Call>();
      return c && c->is_intrinsic(Call::prefetch) ? 1 : kTooMany;
    }
    if (const auto *b = s.as<Block>()) {
      return std::min(prefetchCount(b->first) + prefetchCount(b->rest),
                      kTooMany);
    }
    if (const auto *f = s.as<For>()) {
      const std::optional<int64_t> n = as_const_int(f->extent);
      if (!n || *n > kMaxPrefetchesUnrolled) {
        return kTooMany;
      }
      return std::min(std::max<int64_t>(*n, 0) * prefetchCount(f->body),
                      kTooMany);
    }
    if (const auto *l = s.as<LetStmt>()) {
      return prefetchCount(l->body);
    }
    return kTooMany;
  }

  Halide::Internal::Stmt visit(const Halide::Internal::For *op) override {
    using namespace Halide::Internal;
    const int64_t prefetches = prefetchCount(Stmt(op));
    if (op->name.rfind("prefetch_", 0) != 0 || prefetches == 0 ||
        prefetches > kMaxPrefetchesUnrolled) {
      return IRMutator::visit(op);
    }
    Stmt body = mutate(op->body);
    const int64_t n = *as_const_int(op->extent);
    std::vector<Stmt> copies;
    for (int64_t i = 0; i < n; ++i) {
      copies.push_back(simplify(substitute(op->name, op->min + int(i), body)));
    }
    return Block::make(copies);
  }
};
} // namespace

int temporalPrefetches(std::string &assembly) {
  return rewriteInstruction(assembly, "prefetchnta", "prefetcht0") +
         rewriteInstruction(assembly, "prfm\tpldl1strm", "prfm\tpldl1keep") +
         rewriteInstruction(assembly, "prfm pldl1strm", "prfm pldl1keep");
}

Status compileKernelObject(Kernel &k, const Halide::Target &target,
                           const std::string &objectPath,
                           const std::string &driver, bool artifacts,
                           const std::vector<std::string> &assemblerFlags) {
  namespace fs = std::filesystem;
  const std::string stem =
      (fs::path(objectPath).parent_path() / fs::path(objectPath).stem())
          .string();
  std::map<Halide::OutputFileType, std::string> files;
  if (artifacts) {
    files[Halide::OutputFileType::stmt] = stem + ".stmt";
  }
  const std::string assemblyPath = stem + ".s";
  if (k.prefetches || artifacts) {
    files[Halide::OutputFileType::assembly] = assemblyPath;
  }
  if (!k.prefetches) {
    files[Halide::OutputFileType::object] = objectPath;
  }
  if (k.prefetches) {
    // Idempotent: a kernel compiled twice gets the same loops. The line
    // steps are mended first, while the split loops still exist.
    k.pipeline.add_custom_lowering_pass(new WholeLinePrefetches);
    k.pipeline.add_custom_lowering_pass(new UnrolledPrefetchLoops);
  }
  try {
    k.pipeline.compile_to(files, k.args, k.name, target);
  } catch (const Halide::Error &e) { // compile, internal, runtime errors
    return Status::error(k.name + ": Halide error: " + e.what());
  }
  if (!k.prefetches) {
    return Status::ok();
  }
  std::string text;
  {
    std::ifstream in(assemblyPath);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (!in) {
      return Status::error(k.name + ": cannot read " + assemblyPath);
    }
    text = buffer.str();
  }
  temporalPrefetches(text);
  {
    std::ofstream out(assemblyPath, std::ios::trunc);
    out << text;
    if (!out.flush()) {
      return Status::error(k.name + ": cannot write " + assemblyPath);
    }
  }
  std::vector<std::string> command = {driver};
  command.insert(command.end(), assemblerFlags.begin(), assemblerFlags.end());
  command.insert(command.end(),
                 {"-c", "-x", "assembler", assemblyPath, "-o", objectPath});
  Status st = runCommand(command);
  if (!artifacts) {
    std::error_code ec;
    fs::remove(assemblyPath, ec);
  }
  return st;
}

} // namespace lfm2c
