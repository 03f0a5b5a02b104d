"""Example 16 — look inside a model you trained: one offline page of its attention, logit lens and sampling.

Report §1.2.1 made visible. A small character-level GPT learns Python's reference-manual text
(pydoc_data.topics, shipped with Python, nothing downloaded), then ``minillm.explain`` runs it once
on a sentence and writes one HTML file: every layer's and head's attention as a heat map, what each
layer would predict (the logit lens), and the next-token distribution under temperature, top-k and
top-p. The same page from the command line: ``minillm explain --ckpt RUN --prompt P --out page.html``.

    python examples/16_explain.py            # 2-4 min on 2 shared CPU cores; writes out/explain/char_gpt.html
    python examples/16_explain.py --quick    # ~10 s smoke run

Prints what the page shows in numbers: the heads that read the previous character, the logit lens
of the last position layer by layer, and the next character under a few sampling settings.
docs/explain.md embeds the page of the full run (regenerated with --out docs/assets/explain/char-gpt.html).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from minillm import GPT, CharTokenizer, GPTConfig
from minillm.data import python_docs_text
from minillm.decoding import top_k_filter, top_p_filter
from minillm.explain import explain, read_page
from minillm.train.step import TrainStep, make_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

PROMPT = "The return statement leaves the current function call with"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/explain/char_gpt.html", help="the page to write")
    p.add_argument("--quick", action="store_true", help="a short run for smoke tests")
    args = p.parse_args(argv)
    steps, width = (40, 32) if args.quick else (args.steps, 64)

    start = time.time()
    torch.manual_seed(args.seed)
    text = python_docs_text()
    tok = CharTokenizer.from_text(text)
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=width)
    model = GPT(config)
    print(f"model: GPT, {model.num_parameters():,} parameters (4 layers, 4 heads, {width} wide), {steps} steps")

    lr, gen = 3e-3, torch.Generator().manual_seed(args.seed + 1)
    train_step = TrainStep(model, make_optimizer(model, lr), lr=lr, max_steps=steps)
    for step in range(steps):
        starts = torch.randint(0, len(data) - 65, (32,), generator=gen).tolist()
        x = torch.stack([data[s : s + 64] for s in starts])  # (32, 64)
        y = torch.stack([data[s + 1 : s + 65] for s in starts])  # (32, 64): the next characters
        loss = float(train_step(step, [(x, y)], lambda xy: model(*xy)[1]).loss)
    print(f"train loss after {steps} steps: {loss:.3f} ({time.time() - start:.0f} s)")

    page = explain(model.eval(), tok, PROMPT, title="minillm explain: a character GPT trained on Python's docs")
    path = page.save(args.out)
    seen = read_page(path)
    att = seen["maps"]["self-attention"]  # (layers, heads, T, T)
    print(f"\nwrote {path} ({path.stat().st_size / 1e3:.0f} kB): open it in a browser, no network needed")

    t = att.shape[-1]
    previous = att[..., np.arange(1, t), np.arange(0, t - 1)].mean(-1)  # (layers, heads): weight on the previous char
    print("\nmean weight on the previous character, per layer (rows) and head (columns):")
    for layer, row in enumerate(previous):
        print(f"  layer {layer + 1}: " + "  ".join(f"{w:.2f}" for w in row))

    print(f"\nlogit lens at the last position ({PROMPT[-6:]!r} → ?):")
    for layer in range(seen["lens_ids"].shape[0]):
        ids, probs = seen["lens_ids"][layer, -1], seen["lens_probs"][layer, -1]
        print(
            f"  layer {layer + 1}: "
            + "  ".join(f"{tok.decode([int(i)])!r} {p:.2f}" for i, p in zip(ids[:3], probs[:3]))
        )

    logits = torch.from_numpy(seen["logits"].copy())
    print("\nthe next character, as the page's controls compute it (minillm.decoding's filters):")
    for temperature, top_k, top_p in ((1.0, None, 1.0), (0.5, None, 1.0), (1.0, 5, 1.0), (1.0, None, 0.5)):
        z = logits / temperature
        z = top_k_filter(z, top_k) if top_k else z
        probs = torch.softmax(top_p_filter(z, top_p), -1)
        top = probs.topk(3)
        shown = "  ".join(f"{tok.decode([int(i)])!r} {float(v):.3f}" for v, i in zip(top.values, top.indices) if v > 0)
        print(
            f"  temperature {temperature}, top-k {top_k}, top-p {top_p}: {int((probs > 0).sum())} can be drawn; {shown}"
        )
    rows = [[f"layer {layer + 1}", *(f"{w:.2f}" for w in row)] for layer, row in enumerate(previous)]
    columns = ["weight on the previous character", *(f"head {h + 1}" for h in range(previous.shape[1]))]
    write_results("16", columns, rows, seed=args.seed, quick=args.quick, figures={"train_loss": float(loss)})
    return {"path": path, "previous": previous, "loss": loss, "seconds": time.time() - start}


if __name__ == "__main__":
    main()
