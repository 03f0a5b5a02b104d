"""The explorer page: one self-contained HTML file from one forward pass (``minillm explain``).

    page = explain(model, tokenizer, "To be, or not")    # minillm.explain.trace runs the model
    page.save("out/explain.html")                        # open it in any browser, no network
    page                                                 # in a notebook: the page, inline

The page is HTML with its script (page.js) and style (page.css) inline, hand-written, no
library; a Content-Security-Policy forbids it every network request. The numbers travel as one
JSON object inside it, the arrays base64-packed little-endian:

    attention   uint16, round(w · 65535): every weight to within 1/131070 ≈ 7.6e-6; a causal map
                keeps only its lower triangle (T(T+1)/2 of T² cells). 12 layers × 12 heads on a
                128-token prompt: 3.2 MB (2.4 MB before base64) of the page's 3.9 MB, with a
                50,257-token vocabulary (tests/explain/test_page.py).
    lens        int32 ids and float32 probabilities of each layer's top tokens at each position
    logits      float32, the last position's next-token logits, all of them: the page applies
                temperature, top-k and top-p to them as minillm.decoding.sample_next does
    vocab       every token's label, so any sampled token can be named

``read_page`` turns a page back into arrays; the tests compare them with the model.
Docs: docs/explain.md.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from minillm.decoding.generation import check_sampling
from minillm.explain.trace import prompt_ids, token_label, trace, trace_seq2seq
from minillm.models.lm import LanguageModel
from minillm.models.transformer import Transformer

__all__ = ["WEIGHT_SCALE", "Explanation", "explain", "read_page"]

WEIGHT_SCALE = 65535  # attention weights in [0, 1] → uint16
FORMAT = 1


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).reshape(shape)


def _pack_map(name: str, weights: torch.Tensor, rows: str, cols: str, causal: bool, n_kv_head: int, window=None):
    """(L, H, T_q, T_k) weights → one map of the page: uint16, the lower triangle only where causal."""
    layers, heads, t_q, t_k = weights.shape
    w = np.rint(weights.clamp(0, 1).numpy() * WEIGHT_SCALE).astype("<u2")  # (L, H, T_q, T_k)
    if causal:
        below = np.tril_indices(t_q, m=t_k)
        w = w[..., below[0], below[1]]  # (L, H, T_q (T_q + 1) / 2): the cells a query may see
    return {
        "name": name, "rows": rows, "cols": cols, "causal": causal, "window": window,
        "layers": layers, "heads": heads, "n_kv_head": n_kv_head, "t_q": t_q, "t_k": t_k, "data": _b64(w, "<u2"),
    }  # fmt: skip


def _unpack_map(m: dict) -> np.ndarray:
    """A page's map → (L, H, T_q, T_k) float32, 0 in the cells the causal rule hides."""
    layers, heads, t_q, t_k = m["layers"], m["heads"], m["t_q"], m["t_k"]
    out = np.zeros((layers, heads, t_q, t_k), dtype=np.float32)
    if m["causal"]:
        rows, cols = np.tril_indices(t_q, m=t_k)
        out[..., rows, cols] = _unb64(m["data"], "<u2", (layers, heads, len(rows)))
    else:
        out[:] = _unb64(m["data"], "<u2", (layers, heads, t_q, t_k))
    return out / WEIGHT_SCALE


@dataclass
class Explanation:
    """One page: ``data`` is the JSON object embedded in it; ``html`` the whole file."""

    data: dict

    @property
    def html(self) -> str:
        res = files("minillm.explain")
        payload = json.dumps(self.data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
        return _TEMPLATE.format(
            title=html.escape(self.data["title"]),
            css=res.joinpath("page.css").read_text(encoding="utf-8"),
            js=res.joinpath("page.js").read_text(encoding="utf-8"),
            data=payload,
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:  # Jupyter and Colab show the page in a frame of its own
        return (
            f'<iframe srcdoc="{html.escape(self.html)}" style="width:100%;height:920px;border:1px solid #ccc"></iframe>'
        )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}</style></head>
<body><div id="app">loading…</div>
<script type="application/json" id="minillm-data">{data}</script>
<script>
{js}</script>
</body></html>
"""


def explain(
    model: LanguageModel | Transformer,
    tokenizer,
    prompt: str | list[int],
    *,
    target: str | list[int] | None = None,
    top: int = 5,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = 1.0,
    title: str | None = None,
) -> Explanation:
    """The explorer page of ``model`` on ``prompt``. ``tokenizer`` may be None where ``prompt`` is
    token ids. An encoder-decoder (Transformer) reads ``prompt`` as the source and needs ``target``,
    the target prefix (with its start token); the page shows the next target token. ``top``: tokens
    per logit-lens cell; ``temperature``, ``top_k``, ``top_p``: the sampling controls' start values."""
    check_sampling(temperature, top_k, top_p)  # every check before the forward pass
    if isinstance(model, Transformer):
        c = model.config
        if target is None:
            raise ValueError("an encoder-decoder model needs target=: the target prefix, starting with its start token")
        src = prompt_ids(tokenizer, prompt, c.block_size, c.src_vocab_size, "prompt (source)")
        ids = prompt_ids(tokenizer, target, c.block_size, c.tgt_vocab_size, "target")
        out = trace_seq2seq(model, src, ids, top)
        heads, vocab_size, family = c.n_head, c.tgt_vocab_size, "transformer"
        maps = [
            _pack_map("encoder self-attention", out["encoder"], "source", "source", False, heads),
            _pack_map("decoder self-attention", out["decoder"], "tokens", "tokens", True, heads),
            _pack_map("cross-attention", out["cross"], "tokens", "source", False, heads),
        ]
    elif isinstance(model, LanguageModel):
        if target is not None:
            raise ValueError(f"target= is for an encoder-decoder; {type(model).__name__} continues the prompt")
        c = model.config
        src, ids = None, prompt_ids(tokenizer, prompt, model.block_size, model.vocab_size)
        out = trace(model, ids, top)
        vocab_size, family = c.vocab_size, model.family
        maps = [_pack_map("self-attention", out["attention"], "tokens", "tokens", True, c.n_kv_head,
                          getattr(c, "window", None))]  # fmt: skip
    else:
        raise TypeError(f"explain() takes a GPT, Llama or Transformer, got {type(model).__name__}")
    experts = out["experts"]
    data = {
        "format": FORMAT,
        "title": title or f"minillm explain: {family}",
        "prompt": prompt if isinstance(prompt, str) else None,
        "model": {
            "family": family,
            "class": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "config": {k: v for k, v in c.to_dict().items() if isinstance(v, (int, float, str, bool, type(None)))},
        },
        "tokens": [{"id": i, **token_label(tokenizer, i)} for i in ids],
        "source": None if src is None else [{"id": i, **token_label(tokenizer, i)} for i in src],
        "maps": maps,
        "lens": {
            "layers": out["lens_ids"].shape[0],
            "top": out["lens_ids"].shape[-1],
            "ids": _b64(out["lens_ids"].numpy(), "<i4"),
            "probs": _b64(out["lens_probs"].numpy(), "<f4"),
        },
        "experts": None
        if experts is None
        else {
            "layers": experts["layers"],
            "n_experts": experts["n_experts"],
            "top_k": experts["chosen"].shape[-1],
            "chosen": _b64(experts["chosen"].cpu().numpy(), "<i4"),
            "gates": _b64(experts["gates"].float().cpu().numpy(), "<f4"),
        },
        "logits": _b64(out["logits"].numpy(), "<f4"),
        "vocab_size": vocab_size,
        "vocab": None if tokenizer is None else [_short_label(tokenizer, i) for i in range(vocab_size)],
        "sampling": {"temperature": temperature, "top_k": top_k, "top_p": 1.0 if top_p is None else top_p},
    }
    return Explanation(data)


def _short_label(tokenizer, i: int) -> str:
    label = token_label(tokenizer, i)
    return label["text"] if label["bytes"] is None else f"<{label['bytes']}>"


def read_page(page: str | Path | Explanation) -> dict:
    """A page (a file or an ``Explanation``) back to numbers: ``maps`` {name: (L, H, T_q, T_k)},
    ``lens_ids`` / ``lens_probs`` (L, T, top), ``logits`` (vocab_size,), ``chosen`` / ``gates``
    (n_moe, T, k) or None, and ``data``, the JSON object itself."""
    if isinstance(page, Explanation):
        data = page.data
    else:
        found = re.search(
            r'<script type="application/json" id="minillm-data">(.*?)</script>',
            Path(page).read_text(encoding="utf-8"),
            re.DOTALL,
        )
        if found is None:
            raise ValueError(f"{page} is not a minillm explain page (no minillm-data block)")
        data = json.loads(found.group(1))
    lens, experts = data["lens"], data["experts"]
    t = len(data["tokens"])
    shape = (lens["layers"], t, lens["top"])
    moe = None if experts is None else (len(experts["layers"]), t, experts["top_k"])
    return {
        "data": data,
        "maps": {m["name"]: _unpack_map(m) for m in data["maps"]},
        "lens_ids": _unb64(lens["ids"], "<i4", shape),
        "lens_probs": _unb64(lens["probs"], "<f4", shape),
        "logits": _unb64(data["logits"], "<f4", (data["vocab_size"],)),
        "chosen": None if moe is None else _unb64(experts["chosen"], "<i4", moe),
        "gates": None if moe is None else _unb64(experts["gates"], "<f4", moe),
    }
