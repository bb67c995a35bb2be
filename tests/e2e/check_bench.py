#!/usr/bin/env python3
"""Smoke test of the compiled binary's --bench mode (not a benchmark: it
checks behaviour only). Compiles the tiny MoE fixture, runs
`--bench pp8,tg4,tg2@6 --json --bench-reps 2` and checks that every stdout
line is a JSON object with the fields scripts compare on; also that the table
form prints one row per test, that --bench needs no other mode, that a
malformed test list is refused, and that --profile reports each kernel's
calls and time.

Usage: check_bench.py LFM2C FIXTURES_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    return ok


def main():
    lfm2c, fixtures, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    exe = os.path.join(work, "bench-model")
    model = os.path.join(fixtures, "tiny-lfm2moe", "model-f32.gguf")
    proc = subprocess.run([lfm2c, "compile", model, "-o", exe, "--quiet"],
                          capture_output=True, text=True)
    if not check(proc.returncode == 0, "compiles the tiny MoE fixture"):
        print(proc.stderr)
        return 1

    tests = ["pp8", "tg4", "tg2@6"]
    run = subprocess.run([exe, "--bench", ",".join(tests), "--json",
                          "--bench-reps", "2"],
                         capture_output=True, text=True)
    check(run.returncode == 0, "--bench --json exits 0")
    if run.returncode != 0:
        print(run.stderr)
    lines = [l for l in run.stdout.splitlines() if l.strip()]
    check(len(lines) == len(tests), f"one JSON line per test ({len(lines)})")
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            check(False, f"valid JSON: {line!r} ({e})")
    check([r.get("test") for r in rows] == tests, "tests in the given order")
    for r in rows:
        name = r.get("test")
        tps = r.get("tokens_per_second")
        check(isinstance(tps, (int, float)) and tps > 0,
              f"{name}: tokens_per_second > 0 ({tps})")
        check(isinstance(r.get("threads"), int) and r["threads"] >= 1,
              f"{name}: threads >= 1")
        rss = r.get("peak_rss_bytes")
        check(isinstance(rss, int) and rss > 0,
              f"{name}: peak_rss_bytes > 0 ({rss})")
        size, huge = r.get("weights_bytes"), r.get("weights_huge_page_bytes")
        check(isinstance(size, int) and size > 0 and isinstance(huge, int) and
              -1 <= huge <= size and huge % (2 << 20) == 0,
              f"{name}: weights on 2 MiB pages within the file ({huge} of "
              f"{size})")
        check(isinstance(r.get("stddev"), (int, float)) and r["stddev"] >= 0,
              f"{name}: stddev >= 0")
        check(len(r.get("samples_ts", [])) == 2, f"{name}: 2 reps")
        check(isinstance(r.get("model"), str) and
              isinstance(r.get("target"), str), f"{name}: model and target")
        check((r.get("type_k"), r.get("type_v")) == ("f32", "f32"),
              f"{name}: f32 KV caches by default")
    if len(rows) == 3:
        check((rows[0]["n_prompt"], rows[0]["n_gen"], rows[0]["n_depth"]) ==
              (8, 0, 0), "pp8 is 8 prompt tokens")
        check((rows[2]["n_prompt"], rows[2]["n_gen"], rows[2]["n_depth"]) ==
              (0, 2, 6), "tg2@6 is 2 decode steps at depth 6")

    # --profile: each test's kernel times, its timed steps only. Every
    # forward call embeds its tokens once: pp8 x 2 reps is 2 calls, tg2@6 x 2
    # reps 4 (not the untimed context fills).
    prof = subprocess.run([exe, "--bench", "pp8,tg2@6", "--json",
                           "--bench-reps", "2", "--profile"],
                          capture_output=True, text=True)
    check(prof.returncode == 0, "--bench --profile exits 0")
    prows = [json.loads(l) for l in prof.stdout.splitlines() if l.strip()]
    for r, embeds in zip(prows, (2, 4)):
        kernels = r.get("kernels", [])
        ok = bool(kernels) and all(
            isinstance(k.get("kernel"), str) and
            isinstance(k.get("calls"), int) and k["calls"] > 0 and
            isinstance(k.get("seconds"), float) and k["seconds"] >= 0
            for k in kernels)
        check(ok, f"{r.get('test')} --profile: kernels with calls and "
              f"seconds ({len(kernels)})")
        secs = [k["seconds"] for k in kernels]
        check(secs == sorted(secs, reverse=True),
              f"{r.get('test')} --profile: most time first")
        emb = [k["calls"] for k in kernels
               if k["kernel"].startswith("embedding_")]
        check(emb == [embeds], f"{r.get('test')} --profile: the embedding "
              f"called {embeds} times ({emb})")
    # bench/profile_table.py reads those lines: a table per test, decode
    # kernels with a weight-read rate.
    prof_json = os.path.join(work, "profile.json")
    with open(prof_json, "w") as f:
        f.write(prof.stdout)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                          "..", "bench", "profile_table.py")
    tab = subprocess.run([sys.executable, script, prof_json, "--min-share",
                          "0"], capture_output=True, text=True)
    rows = [l.split("|") for l in tab.stdout.splitlines()
            if l.startswith("| linear_")]
    check(tab.returncode == 0 and tab.stdout.count("| kernel |") == 2 and
          any(r[5].strip() for r in rows),
          "profile_table.py: a table per test, GB/s for decode's linears")
    run = subprocess.run([exe, "--tokens", "1,2,3", "-n", "3", "--profile"],
                         capture_output=True, text=True)
    check(run.returncode == 0 and len(run.stdout.split()) == 3 and
          "| kernel | calls | ms |" in run.stderr and
          "| all kernels |" in run.stderr,
          "--tokens --profile: the tokens on stdout, the table on stderr")

    table = subprocess.run([exe, "--bench", "pp4,tg2", "--bench-reps", "1"],
                           capture_output=True, text=True)
    out = table.stdout.splitlines()
    check(table.returncode == 0 and len(out) == 4 and
          out[0].startswith("| model | target | test | t/s | threads") and
          "| pp4 |" in out[2] and "| tg2 |" in out[3],
          "the table has a header and one row per test")

    bad = subprocess.run([exe, "--bench", "pp8,xx3"], capture_output=True,
                         text=True)
    check(bad.returncode != 0 and "xx3" in bad.stderr,
          "a malformed test is refused, naming it")
    both = subprocess.run([exe, "--bench", "pp8", "--tokens", "1,2"],
                          capture_output=True, text=True)
    check(both.returncode != 0, "--bench with --tokens is refused")

    # A program compiled with f16 KV caches says so, as llama-bench does.
    exe16 = os.path.join(work, "bench-model-kv-f16")
    proc = subprocess.run([lfm2c, "compile", model, "-o", exe16, "--quiet",
                           "--kv-cache=f16"], capture_output=True, text=True)
    run = subprocess.run([exe16, "--bench", "tg2", "--json", "--bench-reps",
                          "1"], capture_output=True, text=True)
    row = json.loads(run.stdout) if run.returncode == 0 else {}
    check(proc.returncode == 0 and
          (row.get("type_k"), row.get("type_v")) == ("f16", "f16"),
          "--kv-cache=f16: the JSON line has type_k and type_v f16")

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
