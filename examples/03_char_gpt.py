"""Example 03 — a character-level GPT (decoder-only Transformer) learns to write like Python's docs.

Report §1.2 / §1.2.1: pre-training = predict the next token on unlabeled text. The text is the
reference-manual topics that ship with every Python (pydoc_data.topics), so nothing is downloaded.

    python examples/03_char_gpt.py            # ~3 min on 2 CPU cores
    python examples/03_char_gpt.py --quick    # ~15 s smoke run

Prints the model size, train/validation loss as it falls (from ln(vocab) ≈ 4.6 at random), and a
sample before and after training.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from minillm import GPT, CharTokenizer, GPTConfig, generate
from minillm.data import python_docs_text
from minillm.train.step import TrainStep, make_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, gen: torch.Generator):
    starts = torch.randint(0, len(data) - block_size - 1, (batch_size,), generator=gen)
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])  # (B, T)
    y = torch.stack([data[s + 1 : s + block_size + 1] for s in starts.tolist()])  # (B, T), shifted by one
    return x, y


@torch.no_grad()
def estimate_loss(model, data, block_size, batch_size, iters=20) -> float:
    model.eval()
    gen = torch.Generator().manual_seed(1234)  # same batches every time: comparable numbers
    losses = [model(*get_batch(data, block_size, batch_size, gen))[1].item() for _ in range(iters)]
    model.train()
    return sum(losses) / len(losses)


def sample(model, tok, prompt: str, n: int, seed: int = 0) -> str:
    idx = torch.tensor([tok.encode(prompt)])
    out = generate(model, idx, n, temperature=0.8, top_k=20, generator=torch.Generator().manual_seed(seed))
    return tok.decode(out[0].tolist())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a short run for smoke tests")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.n_layer, args.n_embd, args.block_size = 60, 2, 64, 64

    start = time.time()
    torch.manual_seed(args.seed)
    text = python_docs_text()
    tok = CharTokenizer.from_text(text)
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    print(f"text: pydoc_data.topics, {len(text):,} characters, {tok.vocab_size} distinct → vocab_size {tok.vocab_size}")

    config = GPTConfig(
        vocab_size=tok.vocab_size,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=0.0,
    )
    model = GPT(config)
    print(
        f"model: GPT with {model.num_parameters():,} parameters ({args.n_layer} layers, {args.n_head} heads, "
        f"{args.n_embd} wide, context {args.block_size})"
    )
    print(f"loss at random init should be ≈ ln({tok.vocab_size}) = {math.log(tok.vocab_size):.2f}")
    print(f"sample before training: {sample(model, tok, 'The ', 60)!r}")

    # AdamW (decay on matrices only), warm-up + cosine to 10 %, clipping: the one step, minillm/train/step.py
    train_step = TrainStep(model, make_optimizer(model, args.lr), lr=args.lr, max_steps=args.steps)
    gen = torch.Generator().manual_seed(args.seed + 1)
    history = []
    for step in range(args.steps + 1):
        if step % max(1, args.steps // 6) == 0:
            tr = estimate_loss(model, train, args.block_size, args.batch_size)
            va = estimate_loss(model, val, args.block_size, args.batch_size)
            history.append((step, tr, va))
            print(f"step {step:5d}  train loss {tr:.3f}  val loss {va:.3f}  ({time.time() - start:5.1f} s)")
        if step == args.steps:
            break
        train_step(step, [get_batch(train, args.block_size, args.batch_size, gen)], lambda xy: model(*xy)[1])

    print("\nsample after training (temperature 0.8, top-k 20):")
    print(sample(model, tok, "The ", 300))
    seconds = time.time() - start
    print(f"\nval loss {history[0][2]:.2f} → {history[-1][2]:.2f} in {seconds:.0f} s")
    row = [
        f"{model.num_parameters() / 1e6:.2f} M",
        args.steps,
        f"{history[0][2]:.2f} → {history[-1][2]:.2f}",
        f"{seconds:.0f} s",
    ]
    figures = {"val_loss_start": history[0][2], "val_loss_end": history[-1][2], "seconds": seconds}
    write_results(
        "03", ["parameters", "steps", "val loss", "time"], [row], seed=args.seed, quick=args.quick, figures=figures
    )
    return {"history": history}


if __name__ == "__main__":
    main()
