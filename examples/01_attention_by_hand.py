"""Example 01 — self-attention by hand, in the report's steps (§1.2.1), on a 4-token sentence.

    python examples/01_attention_by_hand.py      # < 2 s; heat map in out/01_attention_heatmap.png

1. embed the tokens  2. Q, K, V = x W_q, x W_k, x W_v  3. scores = Q Kᵀ / √d
4. weights = softmax(scores) (each row sums to 1)  5. output = weights V
Then the same with minillm's scaled_dot_product_attention, PyTorch's fused kernel, and a
MultiHeadAttention layer with 2 heads, which must all agree. The weights, full and causal, are
drawn as a heat map (rows: the query word; columns: the key word it attends to).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from minillm.nn import MultiHeadAttention, scaled_dot_product_attention
from minillm.utils.plotting import subplots

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def show(name: str, t: torch.Tensor) -> None:
    print(f"\n{name}  shape {tuple(t.shape)}")
    for row in t.tolist():
        print("  " + "  ".join(f"{x:7.3f}" for x in row))


def heatmap(words: list[str], panels: dict[str, torch.Tensor], out: str) -> str | None:
    """One panel per weight matrix: row i = query word i, column j = key word j, each cell labelled."""
    made = subplots(1, len(panels), figsize=(3.3 * len(panels) + 0.8, 3.4), layout="constrained")
    if made is None:
        return None
    fig, axes = made
    for ax, (title, w) in zip(axes, panels.items()):
        image = ax.imshow(w.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(len(words)):
            for j in range(len(words)):
                ax.text(
                    j,
                    i,
                    f"{w[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if w[i, j] > 0.6 else "black",
                )
        ax.set_xticks(range(len(words)), labels=words)
        ax.set_yticks(range(len(words)), labels=words)
        ax.set(xlabel="key (attended to)", title=title)
    axes[0].set_ylabel("query (attending)")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/01_attention_heatmap.png", help="where to write the heat map PNG")
    args = p.parse_args([] if argv is None else argv)
    start = time.time()
    torch.manual_seed(0)
    torch.set_printoptions(precision=3)
    words = ["the", "cat", "sat", "down"]
    d = 4
    print("sentence:", " ".join(words), f"  (n_embd = {d})")

    x = torch.randn(len(words), d)  # 1. one embedding vector per token
    show("1. embeddings x", x)
    w_q, w_k, w_v = (torch.randn(d, d) / d**0.5 for _ in range(3))
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # 2. three linear maps of the same input
    show("2. queries Q = x W_q", q)
    show("   keys    K = x W_k", k)
    show("   values  V = x W_v", v)
    scores = q @ k.T / d**0.5  # 3. every query against every key
    show("3. scores Q Kᵀ / √d  (row = query word, column = key word)", scores)
    weights = torch.exp(scores) / torch.exp(scores).sum(dim=-1, keepdim=True)  # 4. softmax per row
    show("4. weights softmax(scores)  (each row sums to 1)", weights)
    for word, row in zip(words, weights):
        top = int(row.argmax())
        print(f"   '{word}' attends most to '{words[top]}' ({row[top]:.0%})")
    out = weights @ v  # 5. weighted sum of values: a global context vector per position
    show("5. output = weights V", out)

    ours = scaled_dot_product_attention(q, k, v)
    fused = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    diffs = {"minillm": float((ours - out).abs().max()), "torch fused SDPA": float((fused - out).abs().max())}
    print(f"\nminillm scaled_dot_product_attention max |diff| vs by-hand: {diffs['minillm']:.1e}")
    print(f"torch fused SDPA                   max |diff| vs by-hand: {diffs['torch fused SDPA']:.1e}")

    causal = scaled_dot_product_attention(q, k, v, causal=True, return_weights=True)[1]
    show("causal weights (a decoder: no word sees the words after it)", causal)
    png = heatmap(words, {"softmax(QKᵀ/√d)": weights, "causal (decoder)": causal}, args.out)
    if png:
        print(f"\nheat map: {png}")

    mha = MultiHeadAttention(n_embd=d, n_head=2, bias=False, attn_backend="naive")
    with torch.no_grad():  # give both heads the same maps as above, so head outputs are comparable
        mha.q_proj.weight.copy_(w_q.T)
        mha.k_proj.weight.copy_(w_k.T)
        mha.v_proj.weight.copy_(w_v.T)
        mha.out_proj.weight.copy_(torch.eye(d))
    y, head_weights = mha(x[None], need_weights=True)
    print(f"\nMultiHeadAttention(n_embd={d}, n_head=2): each head attends in its own {d // 2}-dim subspace")
    for h in range(2):
        show(f"  head {h} weights", head_weights[0, h])
    show("  concatenated heads → out_proj (identity here)", y[0])
    print(f"\ndone in {time.time() - start:.2f} s")
    rows = [[name, f"{d:.1e}"] for name, d in diffs.items()]  # the README's table (tools/update_tables.py)
    write_results("01", ["attention computed by", "max |diff| vs by-hand"], rows, seed=0, figures=diffs)


if __name__ == "__main__":
    main(sys.argv[1:])
