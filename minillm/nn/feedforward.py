"""Position-wise feed-forward network.

Report §1.2.1 (前馈神经网络 feed-forward network): after attention, every position goes through
the same small fully-connected network with a non-linearity:

    FFN(x) = act(x W1 + b1) W2 + b2             act = ReLU (the report and the 2017 paper),
                                                GELU (GPT-2), or
    FFN(x) = (SiLU(x W1) ⊙ x W3) W2             SwiGLU (Shazeer 2020; LLaMA)

Attention mixes information *between* positions; the feed-forward network transforms each
position on its own, and holds about two thirds of a standard block's parameters.

Docs: docs/transformer.md#feed-forward-network.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from minillm.utils.configs import refuse_renamed

__all__ = ["FeedForward", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "swiglu")


@refuse_renamed
class FeedForward(nn.Module):
    """n_embd → d_ff → n_embd, applied to each position independently.

    Args:
        n_embd: input and output width.
        d_ff: hidden width (4·n_embd in GPT-2 and the 2017 paper).
        activation: "relu", "gelu" (exact), "gelu_tanh" (GPT-2's tanh approximation) or "swiglu".
        dropout: dropout after the activation (as in torch.nn.TransformerEncoderLayer).
        bias: whether the linear layers have biases.
    """

    def __init__(self, n_embd: int, d_ff: int, *, activation: str = "relu", dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {ACTIVATIONS}")
        if n_embd <= 0 or d_ff <= 0:
            raise ValueError(f"n_embd and d_ff must be positive, got n_embd={n_embd}, d_ff={d_ff}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.activation = activation
        self.fc1 = nn.Linear(n_embd, d_ff, bias=bias)
        # SwiGLU's gate: a second input projection, multiplied element-wise with the first.
        self.gate = nn.Linear(n_embd, d_ff, bias=bias) if activation == "swiglu" else None
        self.fc2 = nn.Linear(d_ff, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    # --8<-- [start:ffn]
    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)  # (B, T, d_ff)
        if self.activation == "relu":
            h = F.relu(h)
        elif self.activation == "gelu":
            h = F.gelu(h)
        elif self.activation == "gelu_tanh":
            h = F.gelu(h, approximate="tanh")
        else:  # swiglu
            h = F.silu(h) * self.gate(x)
        return self.fc2(self.dropout(h))  # (B, T, n_embd)
    # --8<-- [end:ffn]
