"""Example 11 — the report's two branches side by side: encoder-decoder Transformer vs decoder-only GPT.

The report's timeline (§1.2) starts from the encoder-decoder Transformer and continues with
decoder-only GPT. Here both learn the same task (reverse or sort digit strings) with the same
parameter budget, optimizer, steps and batches:

  encoder-decoder  src "3 1 4 <eos>" → encoder; the decoder reads "<bos> 4 1" and, through
                   cross-attention, predicts "4 1 3 <eos>"                       (examples/02)
  decoder-only     one sequence "3 1 4 <eos> <bos> 4 1 3 <eos>" under a causal mask; the loss
                   counts only the target tokens (the source positions' labels are -100)

Both are pre-norm with ReLU; each branch keeps its own paper's input part: the encoder-decoder
scales its embeddings by √n_embd and adds the fixed sinusoidal table (Vaswani et al. 2017), the
GPT learns one vector per position and initialises every embedding at std 0.02 (GPT-2). The
sinusoidal table beside GPT-2's small, unscaled embeddings is a trap: its vectors have norm ≈ 8 where
a token's has ≈ 0.23, the digits are drowned, and the GPT stalls (loss 1.64, 2 % exact match in the
quick run). That is why GPTConfig(pos_embedding="sinusoidal") scales tokens by √n_embd as the 2017
paper does (99 % in the same run; docs/transformer.md).

    python examples/11_two_branches.py                 # reverse, a few minutes on 2 CPU cores
    python examples/11_two_branches.py --task sort
    python examples/11_two_branches.py --quick         # a smoke run (strings of length 1..4)

Prints the parameter counts, then exact match on held-out strings and training time for each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from minillm import GPT, GPTConfig, Transformer, TransformerConfig
from minillm.data.tasks import BOS, EOS, PAD, DigitTask, make_digit_batch
from minillm.train.step import TrainStep, make_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

IGNORE = -100  # F.cross_entropy's ignore_index, which GPT.forward uses


# --8<-- [start:one-sequence]
def one_sequence(src: Tensor, tgt: Tensor) -> tuple[Tensor, Tensor]:
    """(src, tgt) pairs → decoder-only inputs and labels: "src <eos> <bos> answer <eos>", loss on the answer.

    src (B, S) = digits <eos> <pad>...; tgt (B, S + 1) = <bos> answer <eos> <pad>...
    Each row is the source without its padding followed by the target, padded on the right.
    """
    b = src.shape[0]
    seq = torch.full((b, src.shape[1] + tgt.shape[1]), PAD, dtype=torch.long)  # (B, S + S + 1)
    labels = torch.full_like(seq, IGNORE)
    for row in range(b):
        s, t = src[row][src[row] != PAD], tgt[row][tgt[row] != PAD]
        n = len(s) + len(t)
        seq[row, :n] = torch.cat([s, t])
        # position p predicts token p + 1: label the positions whose next token is answer or <eos>
        labels[row, len(s) : n - 1] = t[1:]
    return seq[:, :-1], labels[:, :-1]  # the last position never has a next token


# --8<-- [end:one-sequence]


def encoder_decoder(task: DigitTask, d: int, heads: int, layers: int, d_ff: int) -> Transformer:
    config = TransformerConfig(
        src_vocab_size=task.vocab_size,
        tgt_vocab_size=task.vocab_size,
        n_embd=d,
        n_head=heads,
        n_encoder_layers=layers,
        n_decoder_layers=layers,
        d_ff=d_ff,
        dropout=0.0,
        block_size=2 * task.max_digits + 4,
        norm_first=True,
        share_embeddings=True,
        pad_id=PAD,
    )
    return Transformer(config)


def decoder_only(task: DigitTask, d: int, heads: int, d_ff: int, budget: int) -> GPT:
    """The GPT of the same width whose parameter count is closest to ``budget``."""
    if d_ff != 4 * d:
        raise ValueError(f"GPT-2's feed-forward is 4 · n_embd = {4 * d} wide, got d_ff={d_ff}")

    def make(n_layer: int) -> GPT:
        config = GPTConfig(
            vocab_size=task.vocab_size,
            block_size=2 * task.max_digits + 4,
            n_layer=n_layer,
            n_head=heads,
            n_embd=d,
            activation="relu",
            pos_embedding="learned",  # GPT-2's input part (docs/transformer.md: the sinusoidal trap)
        )
        return GPT(config)

    counts = {n: make(n).num_parameters() for n in range(1, 13)}
    return make(min(counts, key=lambda n: abs(counts[n] - budget)))


def exact_match_enc_dec(model: Transformer, task: DigitTask, src: Tensor, tgt: Tensor) -> float:
    out = model.translate(src, max_new_tokens=tgt.shape[1] - 1, bos_id=BOS, eos_id=EOS)
    return _score(task, out[:, 1:], tgt)


@torch.no_grad()
def exact_match_gpt(model: GPT, task: DigitTask, src: Tensor, tgt: Tensor) -> float:
    """Greedy continuation of "src <eos> <bos>"; prompts of one length are decoded together."""
    lengths = (src != PAD).sum(1)
    got = torch.full((src.shape[0], tgt.shape[1] - 1), PAD, dtype=torch.long)
    for n in lengths.unique().tolist():
        rows = (lengths == n).nonzero().flatten()
        prompt = torch.cat([src[rows, :n], torch.full((len(rows), 1), BOS)], dim=1)  # (R, n + 1)
        out = model.generate(prompt, tgt.shape[1] - 1, temperature=0.0, eos_id=EOS)
        got[rows, : out.shape[1] - prompt.shape[1]] = out[:, prompt.shape[1] :]
    return _score(task, got, tgt)


def _score(task: DigitTask, answers: Tensor, tgt: Tensor) -> float:
    correct = 0
    for got, want in zip(answers.tolist(), tgt[:, 1:].tolist()):
        cut = lambda ids: ids[: ids.index(EOS)] if EOS in ids else ids
        correct += task.decode(cut(got)) == task.decode(cut(want))
    return correct / len(tgt)


def train(model, loss_fn, task: DigitTask, args) -> tuple[float, float]:
    """The same steps, batches (same seed) and optimizer for both branches; returns (seconds, last loss)."""
    step_fn = TrainStep(model, make_optimizer(model, args.lr), lr=args.lr, max_steps=args.steps)
    gen = torch.Generator().manual_seed(args.seed + 1)
    model.train()
    start = time.time()
    for step in range(args.steps):
        result = step_fn(step, [make_digit_batch(task, args.batch_size, gen)], loss_fn)
        if (step + 1) % max(1, args.steps // 4) == 0:
            print(f"  step {step + 1:5d}  loss {result.loss.item():.4f}  ({time.time() - start:5.1f} s)")
    model.eval()
    return time.time() - start, result.loss.item()


def main(argv=None) -> dict:
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
        args.steps, args.eval_size, args.max_digits, args.batch_size = 200, 100, 4, 32
    task = DigitTask(args.task, min_digits=1, max_digits=args.max_digits)
    src_eval, tgt_eval = make_digit_batch(task, args.eval_size, torch.Generator().manual_seed(10_000 + args.seed))

    torch.manual_seed(args.seed)
    enc_dec = encoder_decoder(task, d=128, heads=4, layers=2, d_ff=512)
    torch.manual_seed(args.seed)
    gpt = decoder_only(task, d=128, heads=4, d_ff=512, budget=enc_dec.num_parameters())
    print(f"task: {args.task} digit strings of length 1..{args.max_digits}; {args.steps} steps of {args.batch_size}")

    def enc_dec_loss(batch):
        src, tgt = batch
        logits = enc_dec(src, tgt[:, :-1])  # (B, T_tgt - 1, vocab): teacher forcing
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)

    def gpt_loss(batch):
        seq, labels = one_sequence(*batch)  # (B, T), labels -100 on the source: loss on the target only
        return gpt(seq, labels)[1]

    rows, figures = [], {}
    branches = (
        ("encoder-decoder", enc_dec, enc_dec_loss, exact_match_enc_dec, f"{2}+{2} layers"),
        ("decoder-only GPT", gpt, gpt_loss, exact_match_gpt, f"{gpt.config.n_layer} layers"),
    )
    for name, model, loss_fn, score, layers in branches:
        n = model.num_parameters()
        print(f"\n[{name}] {n:,} parameters ({layers}, n_embd 128, 4 heads, d_ff 512)")
        seconds, loss = train(model, loss_fn, task, args)
        acc = score(model, task, src_eval, tgt_eval)
        print(f"[{name}] held-out exact match {acc:.1%} on {args.eval_size}; training {seconds:.0f} s")
        rows.append([name, layers, f"{n / 1e6:.2f} M", f"{acc:.1%}", f"{seconds:.0f} s"])
        figures[name] = {"parameters": n, "exact_match": acc, "train_seconds": seconds, "final_loss": loss}

    print(f"\n{'branch':<18} {'layers':>14} {'parameters':>10} {'exact match':>11} {'training':>9}")
    for row in rows:
        print(f"{row[0]:<18} {row[1]:>14} {row[2]:>10} {row[3]:>11} {row[4]:>9}")
    key = "11" if args.task == "reverse" else f"11-{args.task}"  # docs/transformer.md (tools/update_tables.py)
    columns = ["branch", "layers", "parameters", "held-out exact match", "training time"]
    write_results(key, columns, rows, seed=args.seed, quick=args.quick, figures=figures)
    return figures


if __name__ == "__main__":
    main()
