"""Greedy decoding with the KV cache: minillm vs Hugging Face ``generate`` (issue 18 item 2).

GPT-2-124M layout (12 layers × 768, 12 heads, vocabulary 50,257, context 1,024) with random
weights: minillm's model is written with ``save_pretrained`` and read back by
``transformers.GPT2LMHeadModel``, so both hold the same numbers. Prompt of 32 tokens, 128 new
tokens, batch 1, greedy, 2 threads. The two run interleaved (A B A B ...), so machine load
hits both alike; prints tokens/s of each, the ratio and whether the tokens are identical, and
writes JSON. Timings live here, never in tests (benchmarks/README.md).

On a loaded machine use ``--threads 1``: the clock is then the thread's own CPU time
(``time.thread_time``), which other processes barely disturb, where wall time with 2 threads
can be off by several times.

    python benchmarks/bench_decode.py [--rounds 5] [--new-tokens 128] [--json results/decode_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch

from minillm.decoding.generation import generate
from minillm.models.gpt import GPT, GPTConfig


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="write the record here")
    args = p.parse_args(argv)
    import transformers  # the reference; an optional dependency (pip install minillm[dev])

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    ours = GPT(GPTConfig.from_name("gpt2", vocab_size=50257, block_size=1024)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        ours.save_pretrained(tmp)
        ref = transformers.GPT2LMHeadModel.from_pretrained(tmp).eval()
    prompt = torch.randint(0, 50257, (1, args.prompt_tokens))
    n = args.new_tokens

    def run_minillm():
        return generate(ours, prompt, n, temperature=0.0)

    def run_hf():
        mask = torch.ones_like(prompt)
        with torch.no_grad():
            return ref.generate(
                prompt, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0
            )

    same = run_minillm().tolist() == run_hf().tolist()  # also the warm-up of both
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    times = {"minillm": [], "hf": []}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, fn in (("minillm", run_minillm), ("hf", run_hf)):
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    load_after = os.getloadavg()
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    # Each round's pair ran back to back under the same load: the median of their ratios is the
    # comparison (a ratio of the two medians can pair a quiet round of one with a loaded one of the other).
    per_round = [h / m for m, h in zip(times["minillm"], times["hf"])]
    record = {
        "device": platform.processor() or platform.machine(),
        "threads": args.threads,
        "clock": clock.__name__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": "float32",
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": n,
        "identical_tokens": same,
        "seconds": times,
        "tokens_per_s": {k: n / v for k, v in med.items()},
        "speed_ratio_minillm_over_hf": sorted(per_round)[len(per_round) // 2],  # median of the paired ratios
        "per_round_ratios": per_round,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }
    print(f"identical tokens: {same}")
    for k, ts in times.items():
        print(f"{k:8s} median {med[k]:.2f} s  {n / med[k]:.1f} tokens/s  rounds {[round(x, 2) for x in ts]}")
    print(
        f"minillm speed / HF speed: {record['speed_ratio_minillm_over_hf']:.2f}x "
        f"(per-round {[round(r, 2) for r in per_round]}); load average {load_before[0]:.2f} -> {load_after[0]:.2f}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return record


if __name__ == "__main__":
    main()
