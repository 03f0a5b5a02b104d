"""Llama and what came after GPT-2: the decoder of Llama, Qwen2, Qwen3, Qwen3-MoE and Mixtral.

Report §3.2 (what came after) on top of §1.2.1. The skeleton is GPT-2's (models/gpt.py): embed,
N pre-norm blocks of causal self-attention and feed-forward, a final norm, an output layer. Each
change since is one field of ``LlamaConfig``, built from the pieces in minillm/nn/:

    RMSNorm instead of LayerNorm          norm="rmsnorm"    x / √(mean(x²) + ε) · γ    (nn/norms.py)
    RoPE instead of a position table      rope_theta θ      rotate q, k by pos·θ^(-2i/d) (nn/embeddings.py)
    grouped-query attention               n_kv_head < n_head: a group of query heads shares one K/V head
    free head size, QK-norm               head_dim; qk_norm (Qwen3): RMSNorm per head  (LlamaAttention)
    sliding-window attention              window W: a query sees its last W positions  (Mistral)
    SwiGLU feed-forward                   activation="swiglu": (SiLU(x W1) ⊙ x W3) W2  (nn/feedforward.py)
    mixture of experts                    n_experts > 0: each token goes to expert_top_k of them (nn/experts.py)

With experts, ``forward`` adds ``aux_loss_coef`` × the load-balancing loss to ``loss`` and keeps it
as ``model.aux_loss``. Named shapes (Llama 3.2 1B, Qwen2.5 0.5B, Qwen3 0.6B, Qwen3-30B-A3B,
Mixtral 8x7B) are in models/presets.py; Hugging Face directories of these families load into
``Llama`` (models/hf_llama.py). The defaults are Llama 2 7B (Touvron et al. 2023, table 1).

Docs: docs/beyond.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from minillm.kernels import attention, check_backend
from minillm.models.lm import LanguageModel, check_tokens, next_token_loss
from minillm.nn.embeddings import RoPE
from minillm.nn.experts import MoEFeedForward
from minillm.nn.feedforward import ACTIVATIONS, FeedForward
from minillm.nn.kv_cache import KVCache
from minillm.nn.norms import RMSNorm, check_norm, make_norm
from minillm.utils.configs import check_fields

__all__ = ["Llama", "LlamaConfig"]


@dataclass
class LlamaConfig:
    """Hyper-parameters of the later decoder family (glossary names, docs/glossary.md). ``n_kv_head``,
    ``head_dim`` and ``qkv_bias`` left at None are filled in once, when the config is built: n_head,
    n_embd // n_head and ``bias``."""

    vocab_size: int = 32000
    block_size: int = 4096
    n_layer: int = 32
    n_head: int = 32
    n_embd: int = 4096
    n_kv_head: int | None = None  # K/V heads; fewer than n_head: grouped-query; 1: multi-query
    head_dim: int | None = None  # attention maps n_head · head_dim -> n_embd
    d_ff: int = 11008  # feed-forward width
    dropout: float = 0.0
    bias: bool = False  # biases in the linear layers (and LayerNorm)
    qkv_bias: bool | None = None  # biases on the q/k/v projections only (Qwen2: True with bias=False)
    norm: str = "rmsnorm"  # or "layernorm"
    norm_eps: float = 1e-5
    activation: str = "swiglu"  # or "gelu_tanh", "gelu", "relu"
    rope_theta: float = 10000.0  # RoPE base θ
    qk_norm: bool = False  # RMSNorm on each head's q and k (Qwen3)
    window: int | None = None  # sliding-window attention: a query sees its last ``window`` positions
    tie_embeddings: bool = False  # the output layer reuses the token embedding
    n_experts: int = 0  # mixture-of-experts feed-forward with this many experts; 0: dense
    expert_top_k: int = 2  # experts per token
    expert_d_ff: int | None = None  # width of each expert; None: d_ff
    n_shared_experts: int = 0  # experts every token uses (DeepSeek-MoE)
    expert_norm_topk: bool = True  # renormalise the top-k gates to sum to 1
    aux_loss_coef: float = 0.01  # weight of the load-balancing loss (Switch Transformer's α)
    attn_backend: str = "sdpa"  # "naive" = explicit softmax(QKᵀ/√d)V, "sdpa", "chunked", …

    def __post_init__(self):
        check_fields(self)  # types first: a string for a bool, a float for an int, inf or nan
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "d_ff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.head_dim is None and self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head} (or set head_dim)")
        self.n_kv_head = self.n_head if self.n_kv_head is None else self.n_kv_head
        self.head_dim = self.n_embd // self.n_head if self.head_dim is None else self.head_dim
        self.qkv_bias = self.bias if self.qkv_bias is None else self.qkv_bias
        self.expert_d_ff = self.d_ff if self.expert_d_ff is None else self.expert_d_ff
        for name in ("n_kv_head", "head_dim", "expert_d_ff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be None or a positive integer, got {getattr(self, name)!r}")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head={self.n_head} is not divisible by n_kv_head={self.n_kv_head}; use a divisor")
        if self.head_dim % 2:
            raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be None or >= 1, got {self.window}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("norm_eps", "rope_theta"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        check_norm(self.norm)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {ACTIVATIONS}")
        if self.n_experts < 0 or self.n_shared_experts < 0 or self.aux_loss_coef < 0:
            raise ValueError(
                f"n_experts={self.n_experts}, n_shared_experts={self.n_shared_experts} and "
                f"aux_loss_coef={self.aux_loss_coef} must be >= 0"
            )
        if self.n_experts and not 1 <= self.expert_top_k <= self.n_experts:
            raise ValueError(f"expert_top_k={self.expert_top_k} must be in 1..n_experts={self.n_experts}")
        check_backend(self.attn_backend, "attn_backend")

    @classmethod
    def from_name(cls, name: str, **overrides) -> LlamaConfig:
        """A named shape (models/presets.py): "llama-3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b",
        "qwen3-30b-a3b", "mixtral-8x7b"."""
        from minillm.models.presets import LLAMA_SHAPES

        if name not in LLAMA_SHAPES:
            raise ValueError(f"unknown model name {name!r}; choose one of {sorted(LLAMA_SHAPES)}")
        return cls(**{**LLAMA_SHAPES[name], **overrides})

    def to_dict(self) -> dict:
        return {"family": "llama", **asdict(self)}


# --8<-- [start:attention]
class LlamaAttention(nn.Module):
    """Causal self-attention as the later models run it: (B, T, n_embd) → (B, T, n_embd).

    GPT-2's attention (models/gpt.py) with four changes: K and V have ``n_kv_head`` heads, each
    shared by n_head / n_kv_head query heads (grouped-query; the kernel pairs query head h with K/V
    head h // group); heads are ``head_dim`` wide whatever n_embd is; q and k are rotated by RoPE
    (their dot product then depends only on the distance between positions) after an optional
    RMSNorm per head (QK-norm); with a ``window`` a query sees only its last W positions.
    """

    def __init__(self, config: LlamaConfig, rope: RoPE):
        super().__init__()
        c = config
        self.n_head, self.n_kv_head, self.window = c.n_head, c.n_kv_head, c.window
        self.backend, self.dropout, self.rope = c.attn_backend, c.dropout, rope
        self.q_proj = nn.Linear(c.n_embd, c.n_head * c.head_dim, bias=c.qkv_bias)
        self.k_proj = nn.Linear(c.n_embd, c.n_kv_head * c.head_dim, bias=c.qkv_bias)  # fewer heads: a smaller KV cache
        self.v_proj = nn.Linear(c.n_embd, c.n_kv_head * c.head_dim, bias=c.qkv_bias)
        self.out_proj = nn.Linear(c.n_head * c.head_dim, c.n_embd, bias=c.bias)
        self.q_norm = RMSNorm(c.head_dim, c.norm_eps) if c.qk_norm else None
        self.k_norm = RMSNorm(c.head_dim, c.norm_eps) if c.qk_norm else None

    def forward(self, x: Tensor, kv_cache: KVCache | None = None, mask: Tensor | None = None) -> Tensor:
        q = rearrange(self.q_proj(x), "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T, head_dim)
        k = rearrange(self.k_proj(x), "b t (h d) -> b h t d", h=self.n_kv_head)  # (B, H_kv, T, head_dim)
        v = rearrange(self.v_proj(x), "b t (h d) -> b h t d", h=self.n_kv_head)  # (B, H_kv, T, head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)  # each head normalised on its own
        past = kv_cache.length if kv_cache is not None else 0
        q, k = self.rope(q, offset=past), self.rope(k, offset=past)  # positions past … past + T - 1
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, H_kv, T_k, head_dim); with a window only the last ≤ W kept
        dropout_p = self.dropout if self.training else 0.0
        y = attention(q, k, v, causal=True, mask=mask, backend=self.backend, dropout_p=dropout_p, window=self.window)
        return self.out_proj(rearrange(y, "b h t d -> b t (h d)"))  # (B, H, T, head_dim) -> (B, T, n_embd)


# --8<-- [end:attention]


class LlamaBlock(nn.Module):
    """Pre-norm causal self-attention, then a pre-norm feed-forward (dense or experts)."""

    def __init__(self, config: LlamaConfig, rope: RoPE):
        super().__init__()
        c = config
        self.ln_1 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.attn = LlamaAttention(c, rope)
        self.ln_2 = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        if c.n_experts:
            self.mlp = MoEFeedForward(
                c.n_embd, c.expert_d_ff, n_experts=c.n_experts, top_k=c.expert_top_k, activation=c.activation,
                bias=c.bias, n_shared=c.n_shared_experts, norm_topk=c.expert_norm_topk,
            )  # fmt: skip
        else:
            self.mlp = FeedForward(c.n_embd, c.d_ff, activation=c.activation, bias=c.bias)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, kv_cache: KVCache | None = None, mask: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.ln_1(x), kv_cache, mask))  # (B, T, n_embd)
        return x + self.drop(self.mlp(self.ln_2(x)))  # (B, T, n_embd)


class Llama(LanguageModel):
    """The later decoder family. ``forward(idx, targets=None) -> (logits, loss)``."""

    family, config_class = "llama", LlamaConfig

    def __init__(self, config: LlamaConfig):
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise TypeError(f"Llama expects a LlamaConfig, got {type(config).__name__}")
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        rope = RoPE(c.head_dim, c.block_size, base=c.rope_theta)  # one table, shared by every layer
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(LlamaBlock(c, rope) for _ in range(c.n_layer))
        self.ln_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.aux_loss: Tensor | None = None  # the experts' load-balancing loss of the last forward
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight
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
        """idx: (B, T) token ids → logits (B, T, vocab_size), and the loss if ``targets`` are given
        (-100 = ignored), plus ``aux_loss_coef`` × the experts' load-balancing loss."""
        check_tokens(self, idx, targets, kv_caches)
        logits = self.lm_head(self.features(idx, kv_caches=kv_caches, pos=pos, mask=mask))  # (B, T, vocab_size)
        loss = None if targets is None else next_token_loss(logits, targets)
        if loss is not None and self.aux_loss is not None:
            loss = loss + self.config.aux_loss_coef * self.aux_loss
        return logits, loss

    def features(self, idx, *, kv_caches=None, pos=None, mask=None) -> Tensor:
        """The final hidden states (B, T, n_embd), after ln_f. ``pos`` is not needed: RoPE's scores
        depend only on q - k distances, so left padding shifts nothing (``mask`` hides it)."""
        x = self.drop(self.wte(idx))  # (B, T, n_embd)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_caches[i] if kv_caches else None, mask)  # (B, T, n_embd)
        moe = [b.mlp.aux_loss for b in self.blocks if isinstance(b.mlp, MoEFeedForward)]
        self.aux_loss = torch.stack(moe).mean() if moe else None  # mean over layers: α means the same at any depth
        return self.ln_f(x)
