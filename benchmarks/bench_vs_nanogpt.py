"""`minillm train` against nanoGPT's CPU recipe, same data, same machine (issue 18 item 1).

nanoGPT's README trains a character-level Shakespeare model on a CPU with

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
        --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
        --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

(no biases, β2 0.99, lr 1e-3 → 1e-4, 100 warm-up steps, weight decay 0.1, clipping at 1.0). This
script runs that command and the same run through ``python -m minillm train`` in subprocesses,
interleaved (nanoGPT, minillm, nanoGPT, minillm, ...) so machine load hits both alike, each with
the same number of threads; then it scores both final models on the *whole* validation split
(every token of the last 10 % of tinyshakespeare, in windows of 64) with one loss function, and
prints wall times, the speed ratio and the two losses. minillm's run samples no text
(``--sample-tokens 0``), as nanoGPT's does not.

Neither nanoGPT nor the data ship with minillm: bring a snapshot of github:karpathy/nanoGPT and
char-rnn's data/tinyshakespeare/input.txt yourself (benchmarks/README.md), then

    python benchmarks/bench_vs_nanogpt.py --nanogpt-dir ~/src/nanoGPT --data input.txt [--rounds 2]

The work directory (``--work``, default a temporary one) receives nanoGPT's prepared data, both
runs' outputs and ``bench_vs_nanogpt.json``; the nanoGPT directory is only read. Beside wall
time it reports each run's CPU time (user + system, from ``getrusage``): on a machine shared with
other work, ``--threads 1`` and the CPU-time ratio are what stay comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

RECIPE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12, "iters": 2000}


def prepare(text: str, work: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """nanoGPT's data/shakespeare_char/prepare.py, rewritten: sorted characters, first 90 % train."""
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    n = len(text)
    train = np.array([stoi[c] for c in text[: int(n * 0.9)]], dtype=np.uint16)
    val = np.array([stoi[c] for c in text[int(n * 0.9) :]], dtype=np.uint16)
    nano_data = work / "nanogpt" / "data" / "shakespeare_char"
    nano_data.mkdir(parents=True, exist_ok=True)
    train.tofile(nano_data / "train.bin")
    val.tofile(nano_data / "val.bin")
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}
    with open(nano_data / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)

    from minillm.data.tokens import write_token_files
    from minillm.tokenizers.char import CharTokenizer

    ours = work / "minillm-data"
    write_token_files(ours, train, val, len(chars), "char", ["tinyshakespeare"], n)
    CharTokenizer(chars).save(ours / "tokenizer.json")
    return train, val, chars


def nanogpt_command(nanogpt_dir: Path, out_dir: Path, iters: int) -> list[str]:
    r = RECIPE
    return [
        sys.executable,
        str(nanogpt_dir / "train.py"),
        str(nanogpt_dir / "config" / "train_shakespeare_char.py"),
        "--device=cpu",
        "--compile=False",
        "--eval_iters=20",
        "--log_interval=1",
        f"--block_size={r['block_size']}",
        f"--batch_size={r['batch_size']}",
        f"--n_layer={r['n_layer']}",
        f"--n_head={r['n_head']}",
        f"--n_embd={r['n_embd']}",
        f"--max_iters={iters}",
        f"--lr_decay_iters={iters}",
        "--dropout=0.0",
        "--always_save_checkpoint=True",  # score the final model, as minillm's run does
        f"--out_dir={out_dir}",
    ]


def minillm_command(data_dir: Path, out_dir: Path, iters: int) -> list[str]:
    r = RECIPE
    return [
        sys.executable,
        "-m",
        "minillm",
        "train",
        f"--data-dir={data_dir}",
        f"--out-dir={out_dir}",
        f"--n-layer={r['n_layer']}",
        f"--n-head={r['n_head']}",
        f"--n-embd={r['n_embd']}",
        f"--block-size={r['block_size']}",
        f"--batch-size={r['batch_size']}",
        f"--max-steps={iters}",
        "--lr=1e-3",
        "--min-lr=1e-4",
        f"--warmup-steps={min(100, iters)}",  # nanoGPT's warmup_iters
        "--beta2=0.99",
        "--weight-decay=0.1",
        "--no-bias",
        "--activation=gelu",  # nanoGPT's MLP uses nn.GELU() (exact erf); minillm's default is GPT-2's tanh form
        "--dropout=0",
        "--eval-interval=250",
        "--eval-iters=20",
        f"--checkpoint-interval={iters}",
        "--sample-tokens=0",
        "--device=cpu",
        "--dtype=float32",
        "--no-progress",
    ]


@torch.no_grad()
def full_val_loss(model, val: np.ndarray, block: int, forward) -> float:
    """Mean cross-entropy over every token of ``val``, in consecutive windows of ``block``."""
    n = (len(val) - 1) // block
    x = torch.from_numpy(val[: n * block].astype(np.int64)).view(n, block)  # (windows, T)
    y = torch.from_numpy(val[1 : n * block + 1].astype(np.int64)).view(n, block)
    total = 0.0
    for i in range(0, n, 256):
        logits = forward(model, x[i : i + 256])  # (b, T, V)
        total += F.cross_entropy(logits.flatten(0, 1), y[i : i + 256].flatten(), reduction="sum").item()
    return total / (n * block)


def nanogpt_val_loss(nanogpt_dir: Path, out_dir: Path, val: np.ndarray) -> float:
    sys.path.insert(0, str(nanogpt_dir))
    from model import GPT, GPTConfig  # nanoGPT's model.py, from the snapshot

    ckpt = torch.load(out_dir / "ckpt.pt", map_location="cpu", weights_only=False)
    model = GPT(GPTConfig(**ckpt["model_args"])).eval()
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
    # nanoGPT returns the last position's logits only when no targets are given
    return full_val_loss(model, val, RECIPE["block_size"], lambda m, x: m(x, x)[0])


def minillm_val_loss(out_dir: Path, val: np.ndarray) -> float:
    from minillm.models.gpt import GPT

    model = GPT.from_pretrained(out_dir).eval()
    return full_val_loss(model, val, RECIPE["block_size"], lambda m, x: m(x)[0])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nanogpt-dir", type=Path, required=True, help="a snapshot of github:karpathy/nanoGPT")
    p.add_argument("--data", type=Path, required=True, help="char-rnn's data/tinyshakespeare/input.txt")
    p.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--iters", type=int, default=RECIPE["iters"])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if not (args.nanogpt_dir / "train.py").is_file():
        raise SystemExit(f"--nanogpt-dir {args.nanogpt_dir} has no train.py (a nanoGPT snapshot)")
    if not args.data.is_file():
        raise SystemExit(f"--data {args.data} is not a file")

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-nanogpt-"))
    work.mkdir(parents=True, exist_ok=True)
    _, val, _ = prepare(args.data.read_text(encoding="utf-8"), work)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    times: dict[str, list[float]] = {"nanogpt": [], "minillm": []}
    cpu: dict[str, list[float]] = {"nanogpt": [], "minillm": []}  # user + system seconds of the run
    loads = []
    for r in range(args.rounds):
        for name in ("nanogpt", "minillm"):
            out = work / f"out-{name}-{r}"
            if name == "nanogpt":  # nanoGPT reads data/<dataset>/ and configurator.py relative to its cwd
                cmd, cwd = nanogpt_command(args.nanogpt_dir, out, args.iters), work / "nanogpt"
                (cwd / "configurator.py").write_bytes((args.nanogpt_dir / "configurator.py").read_bytes())
            else:
                cmd, cwd = minillm_command(work / "minillm-data", out, args.iters), work
            loads.append(os.getloadavg()[0])
            t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
            times[name].append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            print(
                f"round {r} {name:8s} {times[name][-1]:7.1f} s wall, {cpu[name][-1]:7.1f} s CPU "
                f"(load average {loads[-1]:.2f})",
                flush=True,
            )
    last = args.rounds - 1
    losses = {
        "nanogpt": nanogpt_val_loss(args.nanogpt_dir, work / f"out-nanogpt-{last}", val),
        "minillm": minillm_val_loss(work / f"out-minillm-{last}", val),
    }
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    med_cpu = {k: sorted(v)[len(v) // 2] for k, v in cpu.items()}
    record = {
        "device": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "iters": args.iters,
        "seconds": times,
        "cpu_seconds": cpu,
        "speed_ratio_minillm_over_nanogpt": med["nanogpt"] / med["minillm"],
        "cpu_time_ratio_nanogpt_over_minillm": med_cpu["nanogpt"] / med_cpu["minillm"],
        "full_val_loss": losses,
        "loadavg_at_starts": loads,
    }
    print(f"median wall time: nanoGPT {med['nanogpt']:.1f} s, minillm {med['minillm']:.1f} s")
    print(f"median CPU time: nanoGPT {med_cpu['nanogpt']:.1f} s, minillm {med_cpu['minillm']:.1f} s")
    print(
        f"minillm speed / nanoGPT speed: {record['speed_ratio_minillm_over_nanogpt']:.2f}x by wall time, "
        f"{record['cpu_time_ratio_nanogpt_over_minillm']:.2f}x by CPU time (the one to trust on a busy machine "
        "with --threads 1)"
    )
    print(f"full validation loss: nanoGPT {losses['nanogpt']:.4f}, minillm {losses['minillm']:.4f}")
    (work / "bench_vs_nanogpt.json").write_text(json.dumps(record, indent=1))
    print(f"wrote {work / 'bench_vs_nanogpt.json'}")
    return record


if __name__ == "__main__":
    main()
