#!/usr/bin/env python3
"""Whole-model speed and memory of an lfm2c binary, beside llama.cpp.

Measures, in one run on one machine: the memory read bandwidth (the
roofline of decode; before and after the tests, the higher kept), then for
the compiled model the `--bench` tests (pp512, tg128, tg128@4096 by
default) and, when given, llama-bench on the
same GGUF with the same threads. Prints a markdown table with each decode
test's fraction of the roofline (bandwidth / bytes read per token, counted
from the GGUF: every tensor once, expert tensors scaled by top_k / experts,
the tied embedding read whole by the head, plus the KV cache at the test's
depth in the type each engine reports), and with --json one JSON object per
line.

    bench/model_bench.py --lfm2c build/bin/lfm2c --model m.gguf \\
        --bench-kernels build/bin/bench_kernels [--llama-bench llama-bench]

Peak RSS is the child's maximum resident set (wait4), mapped weights
included.
"""
import argparse
import json
import mmap
import os
import struct
import subprocess
import sys
import time

# GGML type id -> (block values, block bytes)
GGML_SIZES = {0: (1, 4), 1: (1, 2), 8: (32, 34), 2: (32, 18), 14: (256, 210),
              30: (1, 2), 12: (256, 144), 10: (256, 84), 11: (256, 110),
              13: (256, 176)}


def read_gguf(path):
    """(metadata of scalar values, {tensor name: bytes}) from a GGUF header."""
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
              10: "Q", 11: "q", 12: "d"}
    with open(path, "rb") as f:
        def unpack(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))[0]

        def string():
            return f.read(unpack("Q")).decode("utf-8", "replace")

        def value(vtype):
            if vtype in scalar:
                return unpack(scalar[vtype])
            if vtype == 8:
                return string()
            if vtype == 9:
                etype, n = unpack("I"), unpack("Q")
                if etype in scalar and n <= 4096:  # per-layer values
                    return [unpack(scalar[etype]) for _ in range(n)]
                if etype in scalar:  # skip long numeric arrays in one read
                    f.seek(n * struct.calcsize(scalar[etype]), 1)
                else:
                    for _ in range(n):
                        value(etype)
                return None
            raise ValueError(f"{path}: unknown GGUF value type {vtype}")

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        unpack("I")
        n_tensors, n_kv = unpack("Q"), unpack("Q")
        meta = {}
        for _ in range(n_kv):
            key = string()
            meta[key] = value(unpack("I"))
        tensors = {}
        for _ in range(n_tensors):
            name = string()
            dims = [unpack("Q") for _ in range(unpack("I"))]
            gtype = unpack("I")
            unpack("Q")
            count = 1
            for d in dims:
                count *= d
            per, size = GGML_SIZES.get(gtype, (1, 4))
            tensors[name] = count // per * size
    return meta, tensors


# Bytes a cached value takes, by the type_k / type_v names both engines use.
KV_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "q8_0": 34 / 32, "q4_0": 18 / 32}


def bytes_per_token(meta, tensors, depth, kv_bytes_per_value):
    arch = meta.get("general.architecture", "lfm2")
    experts = meta.get(f"{arch}.expert_count", 0) or 0
    used = meta.get(f"{arch}.expert_used_count", 0) or 0
    total = 0
    for name, size in tensors.items():
        if "_exps" in name and experts:
            total += size * used / experts
        elif name == "token_embd.weight" and "output.weight" in tensors:
            continue  # untied: only one row is read
        else:
            total += size
    heads_kv = meta.get(f"{arch}.attention.head_count_kv")
    if isinstance(heads_kv, list):  # per layer, 0 for conv layers
        heads_kv = max(heads_kv)
    heads = meta.get(f"{arch}.attention.head_count", 1)
    width = meta.get(f"{arch}.embedding_length", 0)
    attn_layers = sum(1 for n in tensors if n.endswith(".attn_q.weight"))
    if isinstance(heads_kv, int) and heads_kv and depth:
        total += 2 * attn_layers * depth * heads_kv * (width // heads) * \
            kv_bytes_per_value
    return total


def bandwidth(bench_kernels):
    out = subprocess.run(
        [bench_kernels, "--benchmark_filter=BM_MemoryReadBandwidth/threads:2",
         "--benchmark_format=json"], capture_output=True, text=True,
        check=True).stdout
    data = json.loads(out)
    return max(b.get("GB/s", 0) for b in data["benchmarks"])


def warm(path, evict):
    """Caches a file's pages, read through a MADV_HUGEPAGE mapping so the page
    cache holds 2 MiB folios where the file system allows: then both engines'
    mappings of it can use 2 MiB pages (on a KVM guest, decode is 22-42%
    faster so; RESULTS.md). With `evict`, the file's cached pages are dropped
    first, so that small folios left by an earlier reader do not decide."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if evict:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        if size == 0:
            return
        with mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ) as m:
            if hasattr(mmap, "MADV_HUGEPAGE"):
                m.madvise(mmap.MADV_HUGEPAGE)
            for offset in range(0, size, 1 << 12):
                m[offset]


def parse_test(test):
    depth = 0
    if "@" in test:
        test, d = test.split("@")
        depth = int(d)
    return test[:2], int(test[2:]), depth


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lfm2c", required=True, help="the lfm2c compiler")
    ap.add_argument("--model", required=True, help="a GGUF file")
    ap.add_argument("--binary", help="an already compiled model (skips "
                    "compiling)")
    ap.add_argument("--compile-args", default="", help="extra lfm2c compile "
                    "arguments, space separated")
    ap.add_argument("--bench-kernels", required=True,
                    help="bench_kernels, for the read bandwidth")
    ap.add_argument("--llama-bench", help="llama.cpp's llama-bench, run on "
                    "the same file after each lfm2c test")
    ap.add_argument("--tests", default="pp512,tg128,tg128@4096",
                    help="ppN, tgN, tgN@DEPTH, comma separated")
    ap.add_argument("--reps", type=int, default=1, help="timed runs per test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/model_bench",
                    help="folder for the compiled model and llama-bench output")
    ap.add_argument("--keep-cache", dest="evict", action="store_false",
                    help="warm files without first dropping their cached "
                    "pages (faster; the page sizes then depend on history)")
    ap.add_argument("--json", action="store_true",
                    help="also print one JSON object per result line")
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    meta, tensors = read_gguf(args.model)
    rows = []
    # Measured before and after the tests, the higher kept: this VM's
    # bandwidth moves by 20-30% within minutes, and a low reading would put
    # decode above its roofline.
    gbps_before = bandwidth(args.bench_kernels)
    model = os.path.basename(args.model)
    binary = args.binary
    if not binary:
        binary = os.path.join(args.work, model + ".lfm2c")
        start = time.time()
        proc = subprocess.run([args.lfm2c, "compile", args.model, "-o", binary,
                               "-q"] + args.compile_args.split(),
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"model_bench: compile failed:\n{proc.stderr}")
        rows.append({"engine": "lfm2c", "test": "compile",
                     "seconds": round(time.time() - start, 1)})

    env = dict(os.environ, HL_NUM_THREADS=str(args.threads))
    for test in args.tests.split(","):
        # Each engine starts with its file in the page cache: the two files
        # of a 24B model do not fit in memory together, and a cold first
        # test would measure the disk.
        warm(binary + ".weights", args.evict)
        out = subprocess.run([binary, "--bench", test, "--json",
                              "--bench-reps", str(args.reps)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            sys.exit(f"model_bench: {binary} --bench {test}:\n{out.stderr}")
        for line in out.stdout.splitlines():
            r = json.loads(line)
            rows.append({"engine": "lfm2c", "test": r["test"],
                         "tokens_per_second": r["tokens_per_second"],
                         "threads": r["threads"],
                         "peak_rss_bytes": r["peak_rss_bytes"],
                         "type_k": r["type_k"], "type_v": r["type_v"],
                         "weights_huge_page_fraction":
                             r["weights_huge_page_bytes"] / r["weights_bytes"]})
        if args.llama_bench:
            kind, n, depth = parse_test(test)
            cmd = [args.llama_bench, "-m", args.model, "-t", str(args.threads),
                   "-r", str(args.reps), "-o", "json",
                   "-p", str(n if kind == "pp" else 0),
                   "-n", str(n if kind == "tg" else 0)]
            if depth:
                cmd += ["-d", str(depth)]
            warm(args.model, args.evict)
            json_path = os.path.join(args.work, f"llama-{test}.json")
            with open(json_path, "w") as sink:
                pid = os.fork()
                if pid == 0:
                    os.dup2(sink.fileno(), 1)
                    fd = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(fd, 2)
                    os.execvp(cmd[0], cmd)
                _, status, usage = os.wait4(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"model_bench: {' '.join(cmd)} failed")
            for r in json.load(open(json_path)):
                rows.append({"engine": "llama.cpp", "test": test,
                             "tokens_per_second": r["avg_ts"],
                             "threads": r["n_threads"],
                             "type_k": r.get("type_k", "f16"),
                             "type_v": r.get("type_v", "f16"),
                             "peak_rss_bytes": usage.ru_maxrss * 1024})

    gbps_after = bandwidth(args.bench_kernels)
    gbps = max(gbps_before, gbps_after)
    print(f"read bandwidth ({args.threads} threads): {gbps:.1f} GB/s "
          f"(before the tests {gbps_before:.1f}, after {gbps_after:.1f})")
    print("| model | engine | test | t/s | roofline t/s | fraction | threads "
          "| peak RSS | weights on 2 MiB pages |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if r["test"] == "compile":
            print(f"| {model} | lfm2c | compile | {r['seconds']} s | | | | | |")
            continue
        kind, _, depth = parse_test(r["test"])
        bound = frac = ""
        if kind == "tg":
            # Each engine reports its caches' type (lfm2c: f32 unless
            # compiled with --kv-cache=f16; llama.cpp: f16 by default).
            kvb = (KV_BYTES.get(r["type_k"], 2) +
                   KV_BYTES.get(r["type_v"], 2)) / 2
            b = bytes_per_token(meta, tensors, depth, kvb)
            r["roofline_tokens_per_second"] = gbps * 1e9 / b
            r["roofline_fraction"] = r["tokens_per_second"] / \
                r["roofline_tokens_per_second"]
            bound = f"{r['roofline_tokens_per_second']:.1f}"
            frac = f"{r['roofline_fraction']:.2f}"
        f = r.get("weights_huge_page_fraction", -1)
        huge = f"{100 * f:.0f}%" if f >= 0 else ""
        print(f"| {model} | {r['engine']} | {r['test']} | "
              f"{r['tokens_per_second']:.2f} | {bound} | {frac} | "
              f"{r['threads']} | {r['peak_rss_bytes'] / 2**20:.0f} MiB | "
              f"{huge} |")
    if args.json:
        for r in rows:
            r.update({"model": model, "read_bandwidth_GBps": gbps,
                      "read_bandwidth_before_GBps": gbps_before,
                      "read_bandwidth_after_GBps": gbps_after})
            print(json.dumps(r))


if __name__ == "__main__":
    main()
