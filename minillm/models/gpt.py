"""GPT-2: the decoder-only Transformer, in one file.

Report §1.2.1 and §1.2 (timeline: GPT-1 2018 → ChatGPT 2022). A GPT keeps only the decoder side
of the report's architecture, without cross-attention: token + position embeddings, N pre-norm
blocks of causal self-attention and feed-forward, a final LayerNorm, and a linear "output part"
whose weight is tied to the token embedding. Trained to predict token t+1 from tokens 0..t:

    attention(x) = softmax(Q Kᵀ / √d + causal mask) V,   Q, K, V = x W_q, x W_k, x W_v  (per head)
    block(x)     = x + attn(LN(x)),  then  x + MLP(LN(x))                                  (pre-norm)
    loss         = mean_t  -log softmax(logits_t)[x_{t+1}]

GPT-2 small (12 layers, 12 heads, 768 wide, 50257 tokens, 1024 context) has 124,439,808
parameters with tied embeddings (Radford et al. 2019, table 2 rounds it to 117M).

``CausalSelfAttention.forward`` holds the whole lesson: the explicit softmax(QKᵀ/√d)V step by
step (``attn_backend="naive"``) beside the one call to a fused kernel (``minillm.kernels``), and
a test proves they agree. What later models changed (RMSNorm, RoPE, grouped-query attention,
SwiGLU, experts, …) lives in models/llama.py, so this file stays GPT-2.

Docs: docs/transformer.md#decoder-only-gpt.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from minillm.kernels import attention, causal_mask, check_backend
from minillm.models.lm import LanguageModel, check_tokens, next_token_loss
from minillm.nn.embeddings import sinusoidal_table
from minillm.nn.feedforward import FeedForward
from minillm.nn.kv_cache import KVCache
from minillm.utils.configs import check_fields

__all__ = ["ACTIVATIONS", "GPT", "POSITION_KINDS", "GPTConfig"]

ACTIVATIONS = ("gelu_tanh", "gelu", "relu")  # of minillm.nn.feedforward's; the gated SwiGLU is models/llama.py's
POSITION_KINDS = ("learned", "sinusoidal")


@dataclass
class GPTConfig:
    """Hyper-parameters of a GPT; the defaults are GPT-2 small. The names are the glossary's
    (docs/glossary.md): width n_embd, heads n_head, layers n_layer, context block_size."""

    vocab_size: int = 50257
    block_size: int = 1024  # longest context the model accepts
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm layers, as GPT-2
    activation: str = "gelu_tanh"  # GPT-2's tanh approximation of GELU; "gelu" (exact) or "relu" (2017)
    pos_embedding: str = "learned"  # "learned" (GPT-2) or "sinusoidal" (the 2017 table; tokens × √n_embd)
    attn_backend: str = "sdpa"  # "naive" = the explicit softmax(QKᵀ/√d)V below; "sdpa", "chunked", … = a kernel

    def __post_init__(self):
        check_fields(self)  # types first: a string for a bool, a float for an int, inf or nan
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {ACTIVATIONS}")
        if self.pos_embedding not in POSITION_KINDS:
            raise ValueError(f"unknown pos_embedding {self.pos_embedding!r}; choose one of {POSITION_KINDS}")
        check_backend(self.attn_backend, "attn_backend")

    # GPT-2's fixed answers to what the later family (models/llama.py) makes a field; the cost
    # formulas (minillm.costs) read either config through these names.
    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_kv_head(self) -> int:
        return self.n_head

    @property
    def d_ff(self) -> int:
        return 4 * self.n_embd

    @classmethod
    def from_name(cls, name: str, **overrides) -> GPTConfig:
        """One of GPT-2's four sizes: "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"."""
        from minillm.models.presets import GPT2_SIZES

        if name not in GPT2_SIZES:
            raise ValueError(f"unknown GPT-2 size {name!r}; choose one of {sorted(GPT2_SIZES)}")
        return cls(**{**GPT2_SIZES[name], **overrides})

    def to_dict(self) -> dict:
        return {"family": "gpt", **asdict(self)}


# --8<-- [start:attention]
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: (B, T, n_embd) → (B, T, n_embd)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.backend, self.dropout = config.n_head, config.attn_backend, config.dropout
        # Q, K and V of every head from one matrix, as GPT-2 stores it (its c_attn): one large
        # product is faster than three small ones.
        self.qkv_proj = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, kv_cache: KVCache | None = None, mask: Tensor | None = None) -> Tensor:
        """``kv_cache`` holds the keys and values of earlier positions (decoding); ``mask`` (B, 1, 1, T_k),
        True = may attend, hides left padding (minillm.decoding builds it)."""
        q, k, v = self.qkv_proj(x).chunk(3, dim=-1)  # 3 × (B, T, n_embd)
        q = rearrange(q, "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T, head_dim)
        k = rearrange(k, "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T, head_dim)
        v = rearrange(v, "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T, head_dim)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, H, T_k, head_dim): the cached positions, then these T

        if self.backend == "naive":  # the explicit softmax(QKᵀ/√d)V, step by step
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T_k)
            allowed = causal_mask(q.shape[-2], k.shape[-2], device=x.device)  # (T, T_k): query i sees keys ≤ i
            if mask is not None:
                allowed = allowed & mask  # (B, 1, T, T_k)
            scores = scores.masked_fill(~allowed, float("-inf"))
            weights = torch.softmax(scores, dim=-1)  # (B, H, T, T_k): each row sums to 1
            if mask is not None:  # padding can leave a query no key at all: softmax gives 0/0 there, make it 0
                weights = weights.masked_fill(~allowed.any(-1, keepdim=True), 0.0)
            y = self.attn_dropout(weights) @ v  # (B, H, T, head_dim)
        else:  # the same math in one fused kernel
            dropout_p = self.dropout if self.training else 0.0
            y = attention(q, k, v, causal=True, mask=mask, backend=self.backend, dropout_p=dropout_p)

        y = rearrange(y, "b h t d -> b t (h d)")  # (B, T, n_embd): the heads side by side
        return self.out_proj(y)  # (B, T, n_embd)


# --8<-- [end:attention]


# --8<-- [start:block]
class Block(nn.Module):
    """GPT-2's block: x + attention(LN(x)), then x + feed-forward(LN(x)) (pre-norm)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = FeedForward(config.n_embd, config.d_ff, activation=config.activation, bias=config.bias)  # 4× wide
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, kv_cache: KVCache | None = None, mask: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.ln_1(x), kv_cache, mask))  # (B, T, n_embd)
        return x + self.drop(self.mlp(self.ln_2(x)))  # (B, T, n_embd)


# --8<-- [end:block]


class GPT(LanguageModel):
    """Decoder-only language model. ``forward(idx, targets=None) -> (logits, loss)``."""

    family, config_class = "gpt", GPTConfig

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(
                f"GPT expects a GPTConfig, got {type(config).__name__} (models/llama.py builds the later family)"
            )
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # token → vector
        if c.pos_embedding == "learned":
            self.wpe = nn.Embedding(c.block_size, c.n_embd)  # position → vector, learned (GPT-2)
        else:
            # The fixed 2017 table has rows of norm √(n_embd/2); GPT-2's std-0.02 token vectors would be a
            # ripple on it and the model stalls (docs/transformer.md, "A trap on the way"), so tokens are
            # scaled by √n_embd, as the 2017 paper does.
            self.register_buffer("wpe_table", sinusoidal_table(c.block_size, c.n_embd), persistent=False)
        self.token_scale = math.sqrt(c.n_embd) if c.pos_embedding == "sinusoidal" else 1.0
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix reads and writes tokens
        self.init_weights(residual_writers=("out_proj.weight", "fc2.weight"))

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        *,
        kv_caches: list[KVCache] | None = None,
        pos: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """idx: (B, T) token ids → logits (B, T, vocab_size), and the loss if ``targets`` (B, T) are
        given (-100 = ignored). With ``kv_caches`` (``new_kv_caches()``) ``idx`` holds only the new
        tokens. ``pos`` (B, T) and ``mask`` (B, 1, 1, T_k) come from batched decoding (left padding)."""
        check_tokens(self, idx, targets, kv_caches)
        logits = self.lm_head(self.features(idx, kv_caches=kv_caches, pos=pos, mask=mask))  # (B, T, vocab_size)
        return logits, None if targets is None else next_token_loss(logits, targets)

    def features(self, idx, *, kv_caches=None, pos=None, mask=None) -> Tensor:
        """The final hidden states (B, T, n_embd), after ln_f: what the output layer, or a reward or
        value head (minillm.rlhf), reads."""
        if pos is None:
            past = kv_caches[0].length if kv_caches else 0
            pos = torch.arange(past, past + idx.shape[1], device=idx.device)  # (T,)
        if self.config.pos_embedding == "learned":
            x = self.wte(idx) + self.wpe(pos)  # (B, T, n_embd)
        else:
            x = self.wte(idx) * self.token_scale + self.wpe_table[pos]  # (B, T, n_embd)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_caches[i] if kv_caches else None, mask)  # (B, T, n_embd)
        return self.ln_f(x)
