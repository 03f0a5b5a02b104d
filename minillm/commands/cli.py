"""The ``minillm`` console script: one argparse dispatcher for every subcommand.

minillm info                        version, torch, device, where each report section lives
minillm params gpt2                 parameter count of a named config (gpt2*, transformer-base)
minillm costs report                the report's §3.2 numbers, computed
minillm costs check [--quick]       the memory calculator vs measured peaks of real training steps
minillm bench attention [--quick]   the quadratic attention benchmark (table + JSON + PNG)
minillm bench components [--quick]  where one GPT block's time goes as the context grows
minillm bench train                 training tokens/s and MFU (eager and torch.compile)
minillm bench gpu [--dry-run]       everything GPU in one go: Triton vs SDPA vs FlexAttention, MFU, memory
minillm kernels compile --arch sm_90  compile the Triton kernels for a GPU (no GPU needed): registers, spills
minillm prepare SOURCE... --out D   text files / python-docs / minillm-docs → token files for training
minillm train --data-dir D ...      pre-train a GPT (every TrainConfig and GPTConfig field is a flag;
                                    --config FILE.json with the same names; an explicit flag wins)
minillm sample --ckpt C --prompt P  generate text from a checkpoint or run directory
minillm explain --ckpt C --prompt P --out page.html   one offline page: attention, logit lens, sampling
minillm rlhf [--quick]              the SFT → reward model → PPO / DPO pipeline (report §1.2.2)
minillm assistant [--quick]         a tiny assistant end to end: world → pre-train → SFT → RM → PPO/DPO → report card
minillm chat --ckpt C               talk to a chat checkpoint (streaming, KV cache across turns)
minillm eval --ckpt C [--text F]    bits per byte, exact match, the assistant's report card (--json)
minillm demo [rlhf --quick]         the instructor's demo: §3.2 claims beside measured numbers (≤ 2 min)

A user error — a bad flag, a bad value, a missing file — is one line on stderr,
``minillm <cmd>: error: …``, and exit status 2; ``minillm --debug <cmd> …`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from minillm.models.presets import GPT2_NAMES

__all__ = ["UsageError", "build_parser", "main"]

SECTION_MAP = [
    ("§1.2.1 self-attention, multi-head", "minillm/nn/attention.py", "examples/01_attention_by_hand.py"),
    ("§1.2.1 feed-forward network", "minillm/nn/feedforward.py", ""),
    ("§1.2.1 input part: embeddings, positions", "minillm/nn/embeddings.py", ""),
    ("§1.2.1 encoder / decoder layers", "minillm/nn/layers.py", ""),
    ("§1.2.1 encoder-decoder Transformer", "minillm/models/transformer.py", "examples/02_transformer_reverse.py"),
    ("§1.2 decoder-only GPT, pre-training", "minillm/models/gpt.py", "examples/03_char_gpt.py"),
    ("§1.2.1 output part: softmax, sampling", "minillm/decoding/generation.py", ""),
    ("§1.2.1 input part: tokenizers", "minillm/tokenizers/", ""),
    ("§1.2 pre-training: Trainer, checkpoints, DDP", "minillm/train/", "examples/04_pretrain_gpt.py"),
    ("§1.2.2 RLHF: SFT, reward model, PPO, DPO", "minillm/rlhf/", "examples/06_rlhf_pipeline.py"),
    ("§1.2.2 a tiny assistant, end to end", "minillm/rlhf/assistant.py", "examples/15_tiny_assistant.py"),
    ("§1.2.2 prompting, chain of thought", "minillm/prompting.py", "examples/07_chain_of_thought.py"),
    ("§3.2 quadratic cost: kernels, costs", "minillm/kernels/, minillm/costs/", "examples/05_quadratic_cost.py"),
    (
        "§3.2 memory wall: ZeRO, FSDP, tensor parallel",
        "minillm/train/parallel.py, minillm/costs/sharding.py",
        "examples/14_memory_wall.py",
    ),
    ("§3.2 instructor demo", "minillm/commands/demo.py", "minillm demo"),
]


class UsageError(Exception):
    """argparse's own complaint about the command line, raised instead of printing usage and exiting."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one line, not a usage block (subparsers inherit the class)."""

    def error(self, message: str):
        raise UsageError(self.prog, message)


# -- handlers: each takes the parsed arguments and returns the exit status -------------------------
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


def _prepare(args) -> int:
    from minillm.data.tokens import prepare_tokens
    from minillm.utils.fileio import check_writable_dir

    check_writable_dir(args.out, "--out")  # an existing file or a read-only directory: one line, before tokenising
    meta = prepare_tokens(args.sources, args.out, args.tokenizer, args.vocab_size, args.val_fraction)
    print(
        f"{meta['chars']:,} characters from {len(meta['sources'])} file(s) -> {meta['tokenizer']} tokenizer with "
        f"{meta['vocab_size']:,} tokens; train {meta['train_tokens']:,} tokens, val {meta['val_tokens']:,} tokens"
    )
    print(f"wrote {args.out}/train.bin, val.bin, tokenizer.json, meta.json")
    return 0


def _train(args) -> int:
    from minillm.train import TrainConfig, Trainer

    trainer = Trainer(TrainConfig.from_args(args))  # explicit flag > --config file > default
    try:
        result = trainer.train()
    except Exception as err:  # under torchrun: one line naming the rank and exit 1; torchrun stops the others
        if not trainer.dist.enabled or getattr(args, "debug", False):
            raise
        import torch.distributed as dist

        lost_peer = isinstance(err, dist.DistError) or "closed by peer" in str(err)  # NCCL; gloo: a RuntimeError
        if lost_peer:  # a consequence: another rank failed first, and says why
            print(f"{args.prog}: rank {trainer.dist.rank} stopped: another process left the job", file=sys.stderr)
        else:
            _complain(args.prog, f"rank {trainer.dist.rank}: {err}")
        return 1
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

    from minillm.decoding.generation import check_sampling
    from minillm.models.loading import load

    for flag, value, low in (
        ("--num-samples", args.num_samples, 1),
        ("--seed", args.seed, 0),
        ("--max-new-tokens", args.max_new_tokens, 0),
    ):
        if value < low:  # checked before the model is loaded
            raise ValueError(f"{flag} must be an integer >= {low}, got {value}")
    check_sampling(args.temperature, args.top_k, args.top_p)
    model, tok = load(args.ckpt)  # a checkpoint, a run directory (its newest checkpoint) or a HF directory
    if tok is None:
        raise ValueError(f"{args.ckpt} has no minillm tokenizer.json, so the prompt cannot be encoded")
    prompt, ids = _encode_prompt(tok, args.prompt)
    ids = ids[-model.block_size :]  # the newest tokens that fit the context
    g = torch.Generator().manual_seed(args.seed)
    for i in range(args.num_samples):
        out = model.generate(
            torch.tensor([ids]),
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            generator=g,
        )
        print(f"--- sample {i + 1} of {args.ckpt} ---")
        print(prompt + tok.decode(out[0, len(ids) :].tolist()))
    return 0


def _encode_prompt(tok, prompt: str | None) -> tuple[str, list[int]]:
    """The prompt's ids. A prompt the user typed must encode; the default "\n" falls back to token 0
    for a vocabulary without newlines (a corpus of one line)."""
    if prompt is not None:
        try:
            ids = tok.encode(prompt)
        except ValueError as err:  # the char tokenizer never saw this character
            raise ValueError(f"--prompt {prompt!r} cannot be encoded: {err}") from None
        if not ids:
            raise ValueError("the prompt encodes to no tokens; give a non-empty --prompt")
        return prompt, ids
    try:
        return "\n", tok.encode("\n")
    except ValueError:
        return tok.decode([0]), [0]


def _kernels_compile(args) -> int:
    from minillm.commands import triton_compile
    from minillm.commands.bench.gpu import roofline_table

    status = triton_compile.run(args)  # the compile table (or --json records)
    if not args.json:
        print()
        print(roofline_table())  # the bound on paper beside it
    return status


# -- the parser ------------------------------------------------------------------------------------
def _command(sub, name: str, handler, help: str, **kw) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help, **kw)
    if handler is not None:  # a group (bench, costs) has none: its own subcommands do
        p.set_defaults(func=handler, prog=p.prog)
    return p


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand, each with its flags; ``args.func(args)`` runs the chosen one."""
    from minillm.commands import assistant, chat, costs_report, demo, evaluation, explain, triton_compile
    from minillm.commands.bench import attention as bench_attention
    from minillm.commands.bench import components as bench_components
    from minillm.commands.bench import gpu as bench_gpu
    from minillm.commands.bench import memory as bench_memory
    from minillm.commands.bench import train as bench_train
    from minillm.train.config import TrainConfig

    parser = _Parser(prog="minillm", description="minillm: the report's Transformer, step by step")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(sub, "info", _info, "versions and the report-section → module map")
    p = _command(sub, "params", _params, "parameter count of a named configuration")
    p.add_argument("name", choices=[*GPT2_NAMES, "transformer-base"])

    costs = _command(sub, "costs", None, "report §3.2 cost numbers")
    costs = costs.add_subparsers(dest="what", required=True, metavar="WHAT")
    costs_report.add_arguments(
        _command(costs, "report", costs_report.run, "reproduce the report's compute and memory numbers")
    )
    bench_memory.add_arguments(
        _command(
            costs, "check", bench_memory.run, "the memory calculator against measured peaks of real training steps"
        )
    )

    bench = _command(sub, "bench", None, "benchmarks (table + JSON + PNG)")
    bench = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    for name, module, what in [
        ("attention", bench_attention, "time and memory of attention backends vs context length"),
        ("components", bench_components, "where one GPT block's time goes as the context grows"),
        ("train", bench_train, "training tokens/s and MFU, eager and compiled"),
        ("gpu", bench_gpu, "one command for a GPU: attention kernels, GPT-2 MFU, memory estimate, pytest -m gpu"),
    ]:
        module.add_arguments(_command(bench, name, module.run, what))

    kernels = _command(sub, "kernels", None, "the Triton attention kernels (report §3.2)")
    kernels = kernels.add_subparsers(dest="what", required=True, metavar="WHAT")
    triton_compile.add_arguments(_command(kernels, "compile", _kernels_compile, "compile for a GPU ahead of time"))

    _add_rlhf(_command(sub, "rlhf", None, "the RLHF pipeline of report §1.2.2: SFT → reward model → PPO / DPO"))
    assistant.add_arguments(
        _command(sub, "assistant", None, "a tiny assistant end to end (report §1.2.2), with its report card")
    )
    chat.add_arguments(
        _command(sub, "chat", chat.run, "talk to a chat checkpoint: /reset, /temperature x, /system text")
    )
    evaluation.add_arguments(_command(sub, "eval", evaluation.run, "bits per byte, exact match, the report card"))
    demo.add_arguments(_command(sub, "demo", demo.run, "instructor demo: §3.2 claims vs measured (rlhf: §1.2.2)"))

    p = _command(sub, "prepare", _prepare, "tokenise text into train.bin/val.bin for `minillm train`")
    p.add_argument("sources", nargs="+", help="text files, directories, 'python-docs' or 'minillm-docs'")
    p.add_argument("--out", required=True, help="data directory to write")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    p.add_argument("--vocab-size", type=int, default=2048, help="BPE vocabulary size (bytes + merges)")
    p.add_argument("--val-fraction", type=float, default=0.1)

    p = _command(sub, "train", _train, "pre-train a GPT on a prepared data directory (every config field is a flag)")
    TrainConfig.add_arguments(p)

    p = _command(sub, "sample", _sample, "generate text from a training checkpoint or run directory")
    p.add_argument("--ckpt", required=True, help="a ckpt-* directory or a run directory (newest checkpoint)")
    p.add_argument("--prompt", default=None, help='default: "\\n" where the tokenizer knows it')
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)

    explain.add_arguments(
        _command(sub, "explain", explain.run, "one offline HTML page: attention, logit lens, next-token sampling")
    )
    return parser


def _add_rlhf(p: argparse.ArgumentParser) -> None:
    from minillm.rlhf import PipelineConfig
    from minillm.utils.configs import add_config_arguments

    add_config_arguments(p, PipelineConfig)  # one flag per field: --sft-steps, --kl-coef, --quick, ...
    p.set_defaults(func=_rlhf, prog=p.prog)


def _rlhf(args) -> int:
    from minillm.rlhf import PipelineConfig, run_pipeline
    from minillm.rlhf.evaluate import summary_table
    from minillm.utils.configs import config_from_args

    out = run_pipeline(config_from_args(PipelineConfig, args))  # explicit flag > --config file > default
    print(summary_table(out["evaluation"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    prog = "minillm"
    try:
        args, extras = build_parser().parse_known_args(argv)
        prog = args.prog
        if extras:  # argparse would name only "minillm"; name the subcommand, as every other error does
            raise UsageError(args.prog, f"unrecognized arguments: {' '.join(extras)}")
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `minillm costs report | head`: the reader has what it wanted; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
        return 0
    except UsageError as err:  # argparse's own complaint: one line, as for every other user error
        if debug:
            raise
        _complain(err.prog, str(err))
    except (ValueError, OSError) as err:  # bad input: ValueError, CheckpointError, missing files
        if debug:
            raise
        _complain(prog, str(err))
    return 2


def _complain(prog: str, message: str) -> None:
    one_line = " ".join(message.split())  # a multi-line message still prints as one line
    print(f"{prog}: error: {one_line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
