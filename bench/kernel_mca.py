#!/usr/bin/env python3
"""Static throughput of the compiled kernels' hot loops on a CPU model, for
targets this machine cannot run (e.g. Zen 5 from a Zen 3 box).

Reads Halide's assembly of kernels (`lfm2c compile --keep-artifacts` leaves
NAME.s for every kernel in OUT.artifacts/; the DotInstructions kernel test
writes some into its temp dir), finds every innermost loop that contains
int8 dot-product instructions, runs llvm-mca on its body for the given CPU
and prints, per loop: instructions, multiply-accumulates per iteration
(from the dot instructions and their vector width), llvm-mca's cycles per
iteration and the MACs per cycle that implies. A model, not a measurement:
compare it with measured rates on a machine you have before trusting
absolute numbers (bench/RESULTS.md: on this project's Zen 3 VM llvm-mca's
znver3 model is ~1.4x optimistic for the AVX2 prefill GEMM; LLVM 22's
znver5 model is Zen 4's, which splits 512-bit operations in two, so it
undercounts Zen 5's 512-bit datapath).

Usage: kernel_mca.py [--mcpu znver5] [--mca llvm-mca-22] [--json] FILE.s...
"""
import argparse
import collections
import json
import re
import subprocess
import sys

# Multiply-accumulates per instruction, by mnemonic and register width.
MACS = {
    "vpdpbusd": {"zmm": 64, "ymm": 32, "xmm": 16},
    "vpmaddubsw": {"zmm": 64, "ymm": 32, "xmm": 16},
    "vpmaddwd": {"zmm": 32, "ymm": 16, "xmm": 8},
}
LABEL = re.compile(r"^(\.LBB\w+):")
BRANCH = re.compile(r"^\s+j\w+\s+(\.LBB\w+)")


def loops(lines):
    """(label, body lines) of each backward branch's loop, innermost only."""
    at = {}
    for i, line in enumerate(lines):
        m = LABEL.match(line)
        if m:
            at[m.group(1)] = i
    found = []
    for i, line in enumerate(lines):
        m = BRANCH.match(line)
        if m and m.group(1) in at and at[m.group(1)] < i:
            found.append((at[m.group(1)], i))
    innermost = [(a, b) for a, b in found
                 if not any((c, d) != (a, b) and a <= c and d <= b
                            for c, d in found)]
    for a, b in innermost:
        body = [l for l in lines[a + 1:b + 1]
                if l.strip() and not l.strip().startswith((".", "#"))
                and not LABEL.match(l)]
        yield lines[a].split(":")[0], body


def mnemonic(line):
    """The instruction's mnemonic, past any {vex}/{evex} prefix."""
    parts = line.split()
    return parts[1] if parts[0].startswith("{") and len(parts) > 1 else parts[0]


def macs(body):
    """Multiply-accumulates per iteration. Beside vpmaddubsw, vpmaddwd only
    widens pair sums (by ones), so it counts only where it multiplies."""
    ops = {mnemonic(l) for l in body}
    total = 0
    for line in body:
        op = mnemonic(line)
        if op not in MACS or op == "vpmaddwd" and "vpmaddubsw" in ops:
            continue
        width = re.search(r"%(zmm|ymm|xmm)", line)
        total += MACS[op][width.group(1)] if width else 0
    return total


def mca(body, args):
    proc = subprocess.run([args.mca, "-mtriple=x86_64-unknown-linux-gnu",
                           "-mcpu=" + args.mcpu, "-iterations=200"],
                          input="\n".join(body) + "\n", capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[0])
    total = re.search(r"Total Cycles:\s+(\d+)", proc.stdout)
    iters = re.search(r"Iterations:\s+(\d+)", proc.stdout)
    return int(total.group(1)) / int(iters.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", metavar="FILE.s")
    ap.add_argument("--mcpu", default="znver5")
    ap.add_argument("--mca", default="llvm-mca-22")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object per loop instead of a table")
    args = ap.parse_args()
    rows = []
    for path in args.files:
        lines = open(path).read().split("\n")
        name = path.rsplit("/", 1)[-1][:-2]
        for label, body in loops(lines):
            m = macs(body)
            if m == 0:
                continue
            try:
                cycles = mca(body, args)
            except RuntimeError as e:
                print(f"{name} {label}: llvm-mca: {e}", file=sys.stderr)
                continue
            ops = collections.Counter(mnemonic(l) for l in body)
            rows.append({"kernel": name, "loop": label, "mcpu": args.mcpu,
                         "instructions": len(body), "macs": m,
                         "cycles": round(cycles, 2),
                         "macs_per_cycle": round(m / cycles, 1),
                         "top": dict(ops.most_common(4))})
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print(f"| kernel | loop | instructions | MACs | cycles ({args.mcpu}) "
          "| MACs/cycle | most frequent |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        top = ", ".join(f"{k} {v}" for k, v in r["top"].items())
        print(f"| {r['kernel']} | {r['loop']} | {r['instructions']} | "
              f"{r['macs']} | {r['cycles']} | {r['macs_per_cycle']} | {top} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
