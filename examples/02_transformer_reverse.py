"""Example 02 — the report's encoder-decoder Transformer (§1.2.1) learns to reverse digit strings.

The source "3 1 4 1 5" must come out as "5 1 4 1 3": every output token has to attend, through
cross-attention, to one precise source position, which is exactly what attention is for.

    python examples/02_transformer_reverse.py            # reverse, ~2 min on 2 CPU cores
    python examples/02_transformer_reverse.py --task sort
    python examples/02_transformer_reverse.py --quick    # ~20 s smoke run

Prints the model size, the training loss, and the exact-match accuracy on held-out strings
(drawn with a different seed from 10^12+ possible strings, so practically none were seen).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from minillm import Transformer, TransformerConfig
from minillm.data.tasks import BOS, EOS, PAD, DigitTask, make_digit_batch
from minillm.train.step import TrainStep, make_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def exact_match(model: Transformer, task: DigitTask, n: int, seed: int) -> float:
    src, tgt = make_digit_batch(task, n, torch.Generator().manual_seed(seed))
    out = model.translate(src, max_new_tokens=tgt.shape[1] - 1, bos_id=BOS, eos_id=EOS)
    correct = 0
    for b in range(n):
        want = task.decode(tgt[b, 1:].tolist()[: tgt[b, 1:].tolist().index(EOS)])
        got_ids = out[b, 1:].tolist()
        got = task.decode(got_ids[: got_ids.index(EOS)] if EOS in got_ids else got_ids)
        correct += want == got
    return correct / n


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reverse", choices=["reverse", "sort", "copy"])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-digits", type=int, default=12, help="longest digit string")
    p.add_argument("--eval-size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a short run for smoke tests")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.eval_size, args.lr = 100, 200, 2e-3  # fewer, larger steps

    torch.manual_seed(args.seed)
    task = DigitTask(args.task, min_digits=1, max_digits=args.max_digits)
    config = TransformerConfig(
        src_vocab_size=task.vocab_size,
        tgt_vocab_size=task.vocab_size,
        n_embd=128,
        n_head=4,
        n_encoder_layers=2,
        n_decoder_layers=2,
        d_ff=512,
        dropout=0.0,
        block_size=32,
        share_embeddings=True,
        pad_id=PAD,
    )
    model = Transformer(config)
    print(f"task: {args.task} digit strings of length 1..{args.max_digits}")
    print(
        f"model: post-norm encoder-decoder, {model.num_parameters():,} parameters "
        f"(n_embd={config.n_embd}, heads={config.n_head}, "
        f"layers={config.n_encoder_layers}+{config.n_decoder_layers})"
    )

    # AdamW with decay on matrices only, warm-up + cosine, clipping: the one step (minillm/train/step.py)
    train_step = TrainStep(model, make_optimizer(model, args.lr), lr=args.lr, max_steps=args.steps)

    def loss_fn(batch):
        src, tgt = batch
        logits = model(src, tgt[:, :-1])  # (B, T_tgt - 1, vocab); teacher forcing: predict tgt[1:] from tgt[:-1]
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)

    gen = torch.Generator().manual_seed(args.seed + 1)
    start = time.time()
    model.train()
    for step in range(args.steps):
        result = train_step(step, [make_digit_batch(task, args.batch_size, gen)], loss_fn)
        if (step + 1) % max(1, args.steps // 10) == 0 or step == 0:
            loss = result.loss.item()
            print(f"step {step + 1:5d}  loss {loss:.4f}  lr {result.lr:.1e}  ({time.time() - start:5.1f} s)")

    acc = exact_match(model, task, args.eval_size, seed=10_000 + args.seed)
    src, _ = make_digit_batch(task, 3, torch.Generator().manual_seed(123))
    out = model.translate(src, max_new_tokens=args.max_digits + 1, bos_id=BOS, eos_id=EOS)
    for b in range(3):
        print(f"  {task.decode(src[b].tolist()):>12s}  ->  {task.decode(out[b].tolist())}")
    seconds = time.time() - start
    print(f"held-out exact match: {acc:.1%} on {args.eval_size} strings  (total {seconds:.0f} s)")
    key = "02" if args.task == "reverse" else f"02-{args.task}"  # the README's table (tools/update_tables.py)
    row = [
        args.task,
        f"{model.num_parameters() / 1e6:.2f} M",
        args.steps,
        f"{acc:.1%} on {args.eval_size}",
        f"{seconds:.0f} s",
    ]
    columns = ["task", "parameters", "steps", "held-out exact match", "time"]
    write_results(
        key, columns, [row], seed=args.seed, quick=args.quick, figures={"exact_match": acc, "seconds": seconds}
    )
    return acc


if __name__ == "__main__":
    main()
