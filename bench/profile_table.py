#!/usr/bin/env python3
"""Per-kernel tables from a compiled binary's `--bench ... --profile --json`
lines: for each test, each kernel's calls per token, milliseconds per timed
run, share of the kernel time and, for decode tests, the weight bytes it
reads per second (bytes from the kernel's name: its shape and stored
format, as codegen/QuantLayout.h stores them). Prefill kernels get no rate:
an MoE expert GEMM's token count differs from call to call.

Usage: ./model --bench pp512,tg128 --profile --json > run.json
       profile_table.py run.json [--min-share 0.5]
"""
import argparse
import json
import re
import sys

# Stored bytes per weight: Q4_0 and Q8_0 blocks of 32 with an fp16 scale,
# Q6_K super-blocks of 256 in 208 bytes plus an f32 scale.
BYTES_PER_WEIGHT = {"f32": 4.0, "f16_f32": 2.0, "q4_0": 18 / 32,
                    "q8_0": 34 / 32, "q6_k": 212 / 256}
NAME = re.compile(r"^(linear(?:_residual|_swiglu|_multi)?|moe_ffn)_"
                  r"(f16_f32|f32|(q4_0|q8_0|q6_k)(?:x\d+)?_f32)_(.*)$")


def weight_bytes(kernel):
    """Weight bytes one call reads, or None for kernels without weights."""
    m = NAME.match(kernel)
    if not m:
        return None
    bpw = BYTES_PER_WEIGHT[m[3] or m[2]]
    dims = m[4]
    if m[1] == "moe_ffn":
        d = re.match(r"h(\d+)_f(\d+)_e\d+_k(\d+)$", dims)
        # The routed experts' gate, up and down slabs.
        return bpw * 3 * int(d[1]) * int(d[2]) * int(d[3]) if d else None
    d = re.match(r"k(\d+)((?:_n\d+)+)$", dims)
    if not d:
        return None
    rows = sum(int(n) for n in d[2].split("_n")[1:])
    if m[1] == "linear_swiglu":
        rows *= 2  # gate and up
    return bpw * int(d[1]) * rows


def table(test, min_share):
    reps = test["reps"]
    tokens = test["n_prompt"] + test["n_gen"]
    kernels = test.get("kernels")
    if not kernels:
        return [f"{test['test']}: no kernel times (run with --profile)"]
    total = sum(k["seconds"] for k in kernels)
    lines = [f"{test['test']}: {test['tokens_per_second']:.2f} t/s, "
             f"{1e3 * total / reps:.1f} ms of kernels per timed run",
             "| kernel | calls per token | ms per run | share | GB/s |",
             "| --- | ---: | ---: | ---: | ---: |"]
    rest = 0.0
    for k in kernels:
        share = 100 * k["seconds"] / total if total > 0 else 0
        if share < min_share:
            rest += k["seconds"]
            continue
        size = weight_bytes(k["kernel"])
        rate = ""
        if size and test["n_gen"] and k["seconds"] > 0:
            rate = f"{size * k['calls'] / k['seconds'] / 1e9:.1f}"
        lines.append(f"| {k['kernel']} | {k['calls'] / reps / tokens:.2f} | "
                     f"{1e3 * k['seconds'] / reps:.1f} | {share:.1f}% | "
                     f"{rate} |")
    if rest:
        lines.append(f"| (the rest) | | {1e3 * rest / reps:.1f} | "
                     f"{100 * rest / total:.1f}% | |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="--bench ... --profile --json output")
    ap.add_argument("--min-share", type=float, default=0.5,
                    help="kernels below this %% of the time go into one row")
    args = ap.parse_args()
    with open(args.json) as f:
        tests = [json.loads(line) for line in f if line.strip()]
    if not tests:
        print(f"{args.json}: no JSON lines", file=sys.stderr)
        return 1
    for i, test in enumerate(tests):
        print(("\n" if i else "") + "\n".join(table(test, args.min_share)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
