"""Attention masks: which keys a query may see (report §1.2.1, decoder; §3.2 kernels).

One convention everywhere in minillm: a boolean mask is **True where a query may attend** (as in
torch.nn.functional.scaled_dot_product_attention); a float mask is added to the scores (-inf
hides a key).

One causal rule everywhere: the T_q queries are the *last* T_q of the T_k positions
(bottom-right alignment, FlashAttention ≥ 2.1), so query i sits at position i + (T_k - T_q) and
sees keys 0 … i + (T_k - T_q). For T_q == T_k this is the usual lower triangle (torch's
``is_causal``; minillm's flag is ``causal``); for T_q < T_k it is what decoding with a KV cache needs.

Sliding-window attention (Child et al. 2019 local attention; Mistral 7B, Jiang et al. 2023) keeps
only the last ``window`` keys of that triangle: a query at position p sees keys p - W + 1 … p
(itself and the W - 1 before it), bottom-right aligned like the causal rule. ``window`` needs
``causal``; ``window`` ≥ T_k is plain causal attention. Per query W keys instead of up to T: the
attention cost falls from O(T²) to O(T·W) and a KV cache need keep only W positions.

Docs: docs/transformer.md#self-attention.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["add_causal", "causal_mask", "check_window", "padding_mask"]


def check_window(window: int | None, causal: bool = True) -> None:
    """``window`` is None or an int ≥ 1 used with causal attention, else one ValueError."""
    if window is None:
        return
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be None (full attention) or an integer >= 1, got {window!r}")
    if not causal:
        raise ValueError(f"window={window} is a causal sliding window; it needs causal=True")


def causal_mask(t_q: int, t_k: int, device=None, window: int | None = None) -> Tensor:
    """Boolean (t_q, t_k) mask, True where query i may see key j (bottom-right aligned); with
    ``window`` W only the keys p - W + 1 … p of the query at position p."""
    check_window(window)
    offset = t_k - t_q  # query i is at absolute position i + offset
    q_pos = torch.arange(t_q, device=device)[:, None] + offset  # (t_q, 1)
    k_pos = torch.arange(t_k, device=device)[None, :]  # (1, t_k)
    allowed = k_pos <= q_pos  # (t_q, t_k)
    return allowed if window is None else allowed & (k_pos > q_pos - window)  # (t_q, t_k)


def add_causal(mask: Tensor | None, t_q: int, t_k: int, device=None, window: int | None = None) -> Tensor:
    """``mask`` (bool, float or None) combined with the bottom-right ``causal_mask`` (of ``window``).

    A bool mask stays bool (both must allow a key); a float mask gets -inf where causality forbids.
    """
    allowed = causal_mask(t_q, t_k, device=device, window=window)  # (t_q, t_k)
    if mask is None:
        return allowed
    if mask.dtype == torch.bool:
        return mask & allowed  # (..., t_q, t_k)
    return mask.masked_fill(~allowed, float("-inf"))  # (..., t_q, t_k)


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """Boolean (B, 1, 1, T) mask from token ids: True for real tokens a query may attend to."""
    if not isinstance(tokens, Tensor) or tokens.dim() != 2:
        raise ValueError(f"padding_mask expects token ids of shape (B, T), got {getattr(tokens, 'shape', tokens)}")
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)
