"""Example 04 — pre-train a small BPE GPT with the full pipeline: prepare → Trainer → checkpoint → sample.

Report §1.2: pre-training is next-token prediction on a large unlabeled corpus; the model learns
the statistics of the text with no labels at all. Here the corpus is the Python reference manual
that ships with every CPython (pydoc_data), tokenised with minillm's own byte-level BPE. This is
what `minillm prepare` + `minillm train` + `minillm sample` do, as one script:

    python examples/04_pretrain_gpt.py            # ~5 min on 2 CPU cores (val loss 3.68)
    python examples/04_pretrain_gpt.py --quick    # ~20 s smoke run

Prints the corpus and model sizes, the loss a context-free (unigram) model gets — the bar the
Transformer must clear — the train/val loss as it falls, samples, and where the loss curve and
the checkpoint went. Run it again with --resume after an interruption to continue exactly.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from minillm.data.tokens import TokenData, prepare_tokens
from minillm.models import GPTConfig
from minillm.train import TrainConfig, Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def unigram_loss(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy on val of a model that predicts every token from train frequencies alone (add-one)."""
    counts = np.bincount(train, minlength=vocab_size) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val].mean())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/04_pretrain")
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--quick", action="store_true", help="a short run for smoke tests")
    args = p.parse_args(argv)
    start = time.time()
    out = Path(args.out)

    data_dir = out / "data"
    if not (data_dir / "meta.json").is_file():
        print(f"tokenising the Python reference manual with a {args.vocab_size}-token BPE ...")
        prepare_tokens(["python-docs"], data_dir, tokenizer="bpe", vocab_size=args.vocab_size)
    data = TokenData.open(data_dir)
    m = data.meta
    print(
        f"corpus: {m['chars']:,} characters -> {m['train_tokens']:,} train + {m['val_tokens']:,} val tokens "
        f"({m['chars'] / (m['train_tokens'] + m['val_tokens']):.2f} characters/token)"
    )

    config = TrainConfig(
        data_dir=str(data_dir),
        out_dir=str(out / "run"),
        resume=args.resume,
        seed=args.seed,
        model=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.1),  # vocab_size: from the data
        batch_size=32,
        max_steps=args.steps,
        lr=2e-3,
        min_lr=2e-4,
        warmup_steps=50,
        eval_interval=100,
        eval_iters=10,
        checkpoint_interval=100,
        sample_tokens=60,
        sample_prompt="The ",
    )
    if args.quick:
        config = TrainConfig.from_dict(  # flat names: the model's fields beside the run's
            {
                **config.to_dict(),
                "n_layer": 2,
                "n_embd": 64,
                "block_size": 64,
                "max_steps": 60,
                "warmup_steps": 10,
                "eval_interval": 30,
                "checkpoint_interval": 30,
            }
        )
    trainer = Trainer(config)
    n = trainer.model.num_parameters()
    print(
        f"model: GPT {config.model.n_layer} layers x {config.model.n_embd} wide, {n:,} parameters; "
        f"{config.batch_size} x {config.model.block_size} = {config.batch_size * config.model.block_size:,} tokens per step"
    )
    baseline = unigram_loss(np.asarray(data.train), np.asarray(data.val), data.vocab_size)
    print(
        f"random guessing: loss ln({data.vocab_size}) = {math.log(data.vocab_size):.2f}; "
        f"unigram (no context): {baseline:.2f} on val"
    )

    result = trainer.train()
    sample = trainer.sample(120)
    print()
    print(
        f"val loss {result['val_loss']:.3f} after {result['step']} steps (unigram {baseline:.2f}, "
        f"random {math.log(data.vocab_size):.2f}); train loss {result['train_loss']:.3f}"
    )
    print(f"sample after 'The ': {'The ' + sample!r}")
    print(f"loss curve: {config.out_dir}/loss.png; metrics: {config.out_dir}/metrics.jsonl")
    print(f"checkpoint: {result['checkpoint']}  (try: minillm sample --ckpt {config.out_dir} --prompt 'The ')")
    seconds = time.time() - start
    print(f"total {seconds:.0f} s")
    row = [
        f"{n / 1e6:.2f} M",
        result["step"],
        f"{result['val_loss']:.3f}",
        f"{baseline:.2f}",
        f"{math.log(data.vocab_size):.2f}",
        f"{seconds:.0f} s",
    ]
    columns = ["parameters", "steps", "val loss", "unigram loss", "random (ln V)", "time"]
    figures = {
        "val_loss": result["val_loss"],
        "train_loss": result["train_loss"],
        "unigram_loss": baseline,
        "seconds": seconds,
    }
    write_results("04", columns, [row], seed=args.seed, quick=args.quick or args.resume, figures=figures)
    return {**result, "unigram_loss": baseline, "sample": sample}


if __name__ == "__main__":
    main()
