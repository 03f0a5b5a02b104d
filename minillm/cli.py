"""The ``minillm`` console script.

minillm info                      version, torch, device, where each report section lives
minillm params gpt2               parameter count of a named config (gpt2*, transformer-base)
minillm costs report              the report's §3.2 numbers, computed
minillm bench attention [--quick] the quadratic attention benchmark (table + JSON + PNG)
minillm bench train               training tokens/s and MFU (eager and torch.compile)
minillm prepare SOURCE... --out D text files / python-docs / minillm-docs → token files for training
minillm train --data-dir D ...    pre-train a GPT (every TrainConfig field is a flag; torchrun works)
minillm sample --ckpt C --prompt  generate text from a checkpoint
minillm rlhf [--quick]            the SFT → reward model → PPO / DPO pipeline
minillm demo [rlhf --quick]       the instructor's demo: §3.2 claims beside measured numbers (≤ 2 min)
"""

from __future__ import annotations

import argparse
import sys

SECTION_MAP = [
    ("§1.2.1 self-attention, multi-head", "minillm/nn/attention.py", "examples/01_attention_by_hand.py"),
    ("§1.2.1 feed-forward network", "minillm/nn/feedforward.py", ""),
    ("§1.2.1 input part: embeddings, positions", "minillm/nn/embeddings.py", ""),
    ("§1.2.1 encoder / decoder layers", "minillm/nn/layers.py", ""),
    ("§1.2.1 encoder-decoder Transformer", "minillm/models/transformer.py", "examples/02_transformer_reverse.py"),
    ("§1.2 decoder-only GPT, pre-training", "minillm/models/gpt.py", "examples/03_char_gpt.py"),
    ("§1.2.1 output part: softmax, sampling", "minillm/generation.py", ""),
    ("§1.2.1 input part: tokenizers", "minillm/tokenizers/", ""),
    ("§1.2 pre-training: Trainer, checkpoints, DDP", "minillm/train/", "examples/04_pretrain_gpt.py"),
    ("§1.2.2 RLHF: SFT, reward model, PPO, DPO", "minillm/rlhf/", "examples/06_rlhf_pipeline.py"),
    ("§1.2.2 prompting, chain of thought", "minillm/prompting.py", "examples/07_chain_of_thought.py"),
    ("§3.2 quadratic cost: kernels, costs", "minillm/kernels/, minillm/costs.py", "examples/05_quadratic_cost.py"),
    ("§3.2 instructor demo", "minillm/demo.py", "minillm demo"),
]


def _info(_args) -> int:
    import torch

    import minillm

    device = "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu"
    print(
        f"minillm {minillm.__version__}  torch {torch.__version__}  device {device}  threads {torch.get_num_threads()}"
    )
    print()
    width = max(len(s) for s, _, _ in SECTION_MAP)
    for section, module, example in SECTION_MAP:
        print(f"{section:<{width}}  {module:<32} {example}")
    return 0


def _params(args) -> int:
    import torch

    from minillm.models import GPT, GPTConfig, Transformer, TransformerConfig

    with torch.device("meta"):  # shapes only: no memory, no time
        if args.name == "transformer-base":
            model = Transformer(TransformerConfig(37000, 37000, share_embeddings=True))
            note = "Vaswani et al. 2017 base, shared 37k vocabulary (paper: 65 M)"
        else:
            model = GPT(GPTConfig.from_name(args.name))
            note = "Radford et al. 2019, tied embeddings"
    n = model.num_parameters()
    print(f"{args.name}: {n:,} parameters ({n / 1e6:.1f} M) — {note}")
    print(
        f"fp32 weights: {4 * n / 1e9:.2f} GB; + grads + Adam (16 bytes/param, mixed precision): {16 * n / 1e9:.2f} GB"
    )
    return 0


def _gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB" if x < 1e12 else f"{x / 1e12:,.2f} TB"


def _costs_report(args) -> int:
    from minillm.costs import forward_flops, report_numbers, training_memory
    from minillm.models import GPTConfig

    r = report_numbers(context_scale=args.scale, model=args.model, base_context=args.context)
    t0, t1 = r["base_context"], r["base_context"] * r["context_scale"]
    print("Report §3.2, compute: attention cost grows with the square of the context.")
    print(
        f"  {r['context_scale']}x context ({t0:,} -> {t1:,} tokens): attention FLOPs x{r['attention_flops_ratio']:,.0f}"
        f"  (= {r['context_scale']}^2; the report: 'more than 1000x')"
    )
    print(
        f"  whole {r['model']} forward pass: x{r['whole_model_flops_ratio']:,.0f} — smaller, because the linear layers"
        f" (x{r['linear_flops_ratio']:.0f}) grow only linearly;"
    )
    print(
        f"  attention is {r['attention_share_short']:.0%} of the FLOPs at {t0:,} tokens and "
        f"{r['attention_share_long']:.0%} at {t1:,}; it overtakes a block's linear layers at T = 6 x d_model"
        f" = {r['crossover_context']:,}."
    )
    print()
    print("Report §3.2, memory: parameters, gradients and optimizer states.")
    print(f"  100 B parameters x 4 bytes (fp32)          = {_gb(r['params_100b_fp32_bytes'])}   (the report: 400 GB)")
    print(f"  + grads + Adam, mixed precision (16 B/param) = {_gb(r['params_100b_mixed_adam_bytes'])}")
    cfg = GPTConfig.from_name(args.model)
    for recompute in (False, True):
        m = training_memory(cfg, args.context, batch_size=8, precision="mixed", recompute=recompute)
        what = "with" if recompute else "without"
        print(
            f"  {args.model}, batch 8 x {args.context:,} tokens, {what} recomputation: params {_gb(m.params)}, "
            f"grads {_gb(m.grads)}, Adam+master {_gb(m.optimizer)}, activations {_gb(m.activations)}"
            f" -> {_gb(m.total)}"
        )
    f = forward_flops(cfg, args.context)
    print()
    print(
        f"{args.model} forward FLOPs per {args.context:,}-token sequence: "
        f"linear {f.linear:.3g}, attention {f.attention:.3g}"
    )
    return 0


def _prepare(args) -> int:
    from minillm.data.tokens import prepare_tokens

    meta = prepare_tokens(args.sources, args.out, args.tokenizer, args.vocab_size, args.val_fraction)
    print(
        f"{meta['chars']:,} characters from {len(meta['sources'])} file(s) -> {meta['tokenizer']} tokenizer with "
        f"{meta['vocab_size']:,} tokens; train {meta['train_tokens']:,} tokens, val {meta['val_tokens']:,} tokens"
    )
    print(f"wrote {args.out}/train.bin, val.bin, tokenizer.json, meta.json")
    return 0


def _train(args) -> int:
    import json

    from minillm.train import TrainConfig, Trainer

    config = TrainConfig.from_args(args)
    if args.config:  # a JSON file of TrainConfig fields; flags given explicitly still win
        with open(args.config, encoding="utf-8") as f:
            values = json.load(f)
        explicit = {k: v for k, v in vars(args).items() if k in config.to_dict() and v != _DEFAULTS.get(k)}
        config = TrainConfig.from_dict({**config.to_dict(), **values, **explicit})
    trainer = Trainer(config)
    try:
        result = trainer.train()
    finally:
        trainer.close()
    if trainer.dist.is_main:
        print(
            f"done: step {result['step']}, train loss {result['train_loss']:.4f}, val loss {result['val_loss']:.4f} "
            f"in {result['seconds']:.0f} s; checkpoint {result['checkpoint']}"
        )
    return 0


def _sample(args) -> int:
    import torch

    from minillm.data.tokens import load_tokenizer
    from minillm.models import GPT, GPTConfig
    from minillm.train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_state

    path, state = read_checkpoint_state(args.ckpt)
    model_cfg = state.get("configs", {}).get("model")
    if not model_cfg:
        raise CheckpointError(f"{path} has no model config; it was not written by `minillm train`")
    if not (path / "tokenizer.json").is_file():
        raise CheckpointError(f"{path} has no tokenizer.json, so the prompt cannot be encoded")
    model = GPT(GPTConfig(**model_cfg))
    load_checkpoint(path, model)
    tok = load_tokenizer(path / "tokenizer.json")
    ids = tok.encode(args.prompt)
    if not ids:
        raise ValueError("the prompt encodes to no tokens; give a non-empty --prompt")
    g = torch.Generator().manual_seed(args.seed)
    for i in range(args.num_samples):
        out = model.generate(
            torch.tensor([ids[-model.max_len :]]),
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            generator=g,
        )
        print(f"--- sample {i + 1} (step {state['step']} of {path.parent.name}) ---")
        print(args.prompt + tok.decode(out[0, len(ids[-model.max_len :]) :].tolist()))
    return 0


_DEFAULTS: dict = {}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["rlhf"]:  # the pipeline has its own argument parser
        from minillm.rlhf.pipeline import main as rlhf_pipeline

        rlhf_pipeline(argv[1:])
        return 0
    if argv[:2] == ["bench", "attention"]:  # the benchmark has its own argument parser
        from minillm.bench.attention import main as bench_attention

        return bench_attention(argv[2:])
    if argv[:1] == ["demo"]:  # the instructor's demo has its own argument parser
        from minillm.demo import main as demo

        return demo(argv[1:])
    if argv[:2] == ["bench", "train"]:
        from minillm.bench.train import main as bench_train

        return bench_train(argv[2:])
    parser = argparse.ArgumentParser(prog="minillm", description="minillm: the report's Transformer, step by step")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions and the report-section → module map").set_defaults(func=_info)
    p = sub.add_parser("params", help="parameter count of a named configuration")
    p.add_argument("name", choices=["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "transformer-base"])
    p.set_defaults(func=_params)
    costs = sub.add_parser("costs", help="report §3.2 cost numbers").add_subparsers(dest="what", required=True)
    p = costs.add_parser("report", help="reproduce the report's compute and memory numbers")
    p.add_argument("--scale", type=int, default=32, help="context multiplier (report: 32)")
    p.add_argument("--model", default="gpt2", choices=["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"])
    p.add_argument("--context", type=int, default=1024, help="base context length")
    p.set_defaults(func=_costs_report)
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="what", required=True)
    bench.add_parser("attention", help="time and memory of attention backends vs context length (see --help)")
    bench.add_parser("train", help="training tokens/s and MFU, eager and compiled (see --help)")
    sub.add_parser("rlhf", help="the RLHF pipeline of report §1.2.2 (see minillm rlhf --help)")
    sub.add_parser("demo", help="instructor demo: report §3.2 claims vs measured (`minillm demo rlhf --quick`: §1.2.2)")
    p = sub.add_parser("prepare", help="tokenise text into train.bin/val.bin for `minillm train`")
    p.add_argument("sources", nargs="+", help="text files, directories, 'python-docs' or 'minillm-docs'")
    p.add_argument("--out", required=True, help="data directory to write")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    p.add_argument("--vocab-size", type=int, default=2048, help="BPE vocabulary size (bytes + merges)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.set_defaults(func=_prepare)
    p = sub.add_parser("train", help="pre-train a GPT on a prepared data directory (see --help for every flag)")
    from minillm.train.config import TrainConfig

    TrainConfig.add_arguments(p)
    p.add_argument("--config", help="JSON file of TrainConfig fields (unknown keys are an error)")
    p.set_defaults(func=_train)
    _DEFAULTS.update(TrainConfig().to_dict())
    p = sub.add_parser("sample", help="generate text from a training checkpoint")
    p.add_argument("--ckpt", required=True, help="a ckpt-* directory or a run directory (newest checkpoint)")
    p.add_argument("--prompt", default="\n")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_sample)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:  # bad input: one clear line, no traceback
        print(f"minillm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
