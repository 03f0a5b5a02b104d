"""``minillm explain --ckpt DIR --prompt TEXT --out page.html``: one offline page of a checkpoint's insides.

Report §1.2.1 made visible: every layer's and head's attention, the logit lens and the next-token
distribution under temperature, top-k and top-p (minillm/explain/). Docs: docs/explain.md.
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="a ckpt-* directory or a run directory (newest checkpoint)")
    p.add_argument("--prompt", required=True, help="the text to run the model on (at most its context)")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--top", type=int, default=5, help="tokens per logit-lens cell")
    p.add_argument("--temperature", type=float, default=1.0, help="the sampling controls' start values")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=1.0)


def run(args) -> int:
    """Write the page; every flag is checked before the model is loaded."""
    from pathlib import Path

    from minillm.decoding.generation import check_sampling
    from minillm.explain import explain
    from minillm.models.loading import load
    from minillm.utils.fileio import check_writable_dir

    check_sampling(args.temperature, args.top_k, args.top_p)  # every flag before the model is loaded
    if args.top < 1:
        raise ValueError(f"--top must be an integer >= 1, got {args.top}")
    if not args.prompt:
        raise ValueError("--prompt is empty: give the text to look inside the model with")
    out = Path(args.out)
    check_writable_dir(out.parent, "--out's directory")
    model, tok = load(args.ckpt)
    if tok is None:
        raise ValueError(f"{args.ckpt} has no minillm tokenizer.json, so the prompt cannot be encoded")
    page = explain(model, tok, args.prompt, top=args.top, temperature=args.temperature, top_k=args.top_k,
                   top_p=args.top_p, title=f"minillm explain: {args.ckpt}")  # fmt: skip
    page.save(out)
    m = page.data["maps"][0]
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {len(page.data['tokens'])} tokens, "
        f"{m['layers']} layers x {m['heads']} heads; open it in a browser (it needs no network)"
    )
    return 0
