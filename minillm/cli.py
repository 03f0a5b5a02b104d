"""The ``minillm`` console script.

    minillm info                      version, torch, device, where each report section lives
    minillm params gpt2               parameter count of a named config (gpt2*, transformer-base)
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
]


def _info(_args) -> int:
    import torch

    import minillm

    device = "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu"
    print(f"minillm {minillm.__version__}  torch {torch.__version__}  device {device}  threads {torch.get_num_threads()}")
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
    print(f"fp32 weights: {4 * n / 1e9:.2f} GB; + grads + Adam (16 bytes/param, mixed precision): {16 * n / 1e9:.2f} GB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minillm", description="minillm: the report's Transformer, step by step")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions and the report-section → module map").set_defaults(func=_info)
    p = sub.add_parser("params", help="parameter count of a named configuration")
    p.add_argument("name", choices=["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "transformer-base"])
    p.set_defaults(func=_params)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
