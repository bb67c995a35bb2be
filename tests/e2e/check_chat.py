#!/usr/bin/env python3
"""End-to-end chat check: drives `OUT chat` through a conversation with a
tool list, a tool call (given as the assistant's turn, parsed into JSON) and
a tool result, then a second user turn, and compares every batch of token ids
fed to the model with an expectation derived by hand from LFM2's chat format
(the strings below) and tokenized by Hugging Face `tokenizers`, an independent
implementation. Checks that earlier turns are never fed again.

Usage: check_chat.py LFM2C FIXTURES_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

from tokenizers import Tokenizer

results = {"passed": 0, "failed": 0}
EOG = {2, 7}  # <|endoftext|>, <|im_end|>
MAX_TOKENS = 3


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    return ok


def greedy(exe, ids, n):
    run = subprocess.run([exe, "--tokens", ",".join(map(str, ids)), "-n",
                          str(n)], capture_output=True, text=True, check=True)
    return [int(t) for t in run.stdout.split()]


def reply_batches(exe, fed, n):
    """The batches a greedy reply of at most n tokens feeds after `fed`, and
    the token it carries into the next batch (the last shown, not fed)."""
    tokens = []
    for t in greedy(exe, fed, n):
        if t in EOG:
            break
        tokens.append(t)
    # Every generated token is fed alone except the last, which is carried.
    return [[t] for t in tokens[:-1]], tokens[-1:]


def main():
    lfm2c, fixtures, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    hf = os.path.join(fixtures, "tiny-lfm2moe", "hf")
    exe = os.path.join(work, "chat-model")
    proc = subprocess.run([lfm2c, "compile", hf, "-o", exe, "-q"],
                          capture_output=True, text=True)
    if not check(proc.returncode == 0, "compiles the HF fixture with its "
                 "tokenizer"):
        print(proc.stderr)
        return 1
    tok = Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))

    def ids(text):
        return tok.encode(text, add_special_tokens=False).ids

    tool = '{"name": "get_weather", "parameters": {"city": "string"}}'
    with open(os.path.join(work, "tools.jsonl"), "w") as f:
        f.write(tool + "\n")
    call = "<|tool_call_start|>[get_weather(city='Paris')]<|tool_call_end|>"
    script = "\n".join([
        "/user What is the weather in Paris?",
        "/assistant " + call,
        '/tool {"temperature": 21}',
        "Thanks!",
        "/exit",
    ]) + "\n"
    log = os.path.join(work, "fed.txt")
    run = subprocess.run(
        [exe, "chat", "--system", "You are helpful.", "--tools",
         os.path.join(work, "tools.jsonl"), "--temp", "0",
         "--repeat-penalty", "1", "-n", str(MAX_TOKENS), "--log-tokens", log],
        input=script, capture_output=True, text=True)
    if not check(run.returncode == 0, "chat session exits cleanly"):
        print(run.stderr)
        return 1

    # LFM2's chat format, written out by hand for this conversation.
    turn1 = ("<|startoftext|><|im_start|>system\nYou are helpful.\n"
             "List of tools: <|tool_list_start|>[" + tool +
             "]<|tool_list_end|><|im_end|>\n"
             "<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n"
             "<|im_start|>assistant\n" + call)
    turn2 = ("<|im_end|>\n<|im_start|>tool\n<|tool_response_start|>"
             '{"temperature": 21}<|tool_response_end|><|im_end|>\n'
             "<|im_start|>assistant\n")
    turn3 = ("<|im_end|>\n<|im_start|>user\nThanks!<|im_end|>\n"
             "<|im_start|>assistant\n")
    e1, e2, e3 = ids(turn1), ids(turn2), ids(turn3)
    check(e1[:2] == [1, 6] and 8 in e1 and 9 in e1 and 10 in e1 and 11 in e1,
          "reference tokenization has BOS, im_start and the tool markers")

    fed_so_far = e1 + e2
    expected = [e1, e2]
    decode2, carry2 = reply_batches(exe, fed_so_far, MAX_TOKENS)
    expected += decode2
    fed_so_far += sum(decode2, []) + carry2 + e3
    expected.append(carry2 + e3)
    decode3, _ = reply_batches(exe, fed_so_far, MAX_TOKENS)
    expected += decode3

    got = [[int(t) for t in line.split()] for line in open(log)]
    check(got == expected,
          f"fed batches equal the hand-derived ones ({len(expected)} batches, "
          f"{sum(map(len, expected))} tokens)")
    if got != expected:
        print("expected:", expected)
        print("got:     ", got)
    check(sum(map(len, got)) == len(fed_so_far) + sum(map(len, decode3)),
          "no turn is fed twice")

    first_line = run.stdout.splitlines()[0] if run.stdout else ""
    parsed = json.loads(first_line) if first_line.startswith("{") else None
    check(parsed == {"tool_calls": [{"name": "get_weather",
                                     "arguments": {"city": "Paris"}}]},
          "the assistant's tool call is parsed into JSON")

    # -p: one turn, BOS + user message + generation prompt.
    log_p = os.path.join(work, "fed-p.txt")
    run = subprocess.run([exe, "-p", "Hello world", "--temp", "0", "-n", "2",
                          "--log-tokens", log_p], capture_output=True,
                         text=True)
    first = [int(t) for t in open(log_p).readline().split()]
    check(run.returncode == 0 and first == ids(
        "<|startoftext|><|im_start|>user\nHello world<|im_end|>\n"
        "<|im_start|>assistant\n"), "-p feeds the one-turn chat prompt")

    # A prompt longer than the context is a clear error.
    run = subprocess.run([exe, "-p", "Hello world " * 50, "-c", "16"],
                         capture_output=True, text=True)
    check(run.returncode != 0 and "context" in run.stderr,
          "a prompt longer than the context is refused")
    # Ctrl-C stops a long reply, not the session: the next command runs.
    import signal
    import time
    p = subprocess.Popen([exe, "chat", "-n", "90000", "-c", "100000",
                          "--seed", "1", "--ignore-eos"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    start = time.time()
    p.stdin.write("Hello\n")
    p.stdin.flush()
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    alive = p.poll() is None
    try:
        p.stdin.write("/exit\n")
        p.stdin.flush()
    except BrokenPipeError:
        pass
    out, err = p.communicate(timeout=120)
    check(alive and p.returncode == 0 and "[interrupted]" in err
          and time.time() - start < 60,
          "Ctrl-C stops the reply and the chat goes on")
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
