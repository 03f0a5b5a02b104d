"""GPTConfig: the hyper-parameters of a GPT, checked when built (report §1.2.1; models/gpt.py builds the model).

The defaults are GPT-2 small; the fields after ``attn_backend`` are what later models changed
(Llama, Qwen, Mixtral: docs/beyond.md), named shapes are in minillm/models/presets.py. Every field
is checked here, once, so a bad value is refused by name before any weight is allocated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from minillm.kernels import check_backend
from minillm.models.presets import PRESETS
from minillm.nn.feedforward import ACTIVATIONS
from minillm.nn.norms import check_norm
from minillm.utils.configs import check_fields

__all__ = ["GPT2_SIZES", "POSITION_KINDS", "GPTConfig", "config_from_file"]

POSITION_KINDS = ("learned", "sinusoidal", "rope")

# Sizes of the four GPT-2 releases (Radford et al. 2019, table 2).
GPT2_SIZES = {name: PRESETS[name] for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}


@dataclass
class GPTConfig:
    """Hyper-parameters of a GPT; the defaults are GPT-2 small.

    The fields after ``attn_backend`` are what later models changed; None means "as GPT-2".
    minillm/models/hf_llama.py maps them to and from Hugging Face config.json keys (its
    CONFIG_KEYS, EXPERT_KEYS; hf_gpt2.CONFIG_KEYS for GPT-2): n_embd ← hidden_size,
    d_ff ← intermediate_size, n_kv_head ← num_key_value_heads, norm_eps ← rms_norm_eps, rope_theta
    ← rope_parameters / rope_theta, window ← sliding_window, n_experts ← num_experts, ….
    """

    vocab_size: int = 50257
    block_size: int = 1024  # longest context the model accepts
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm layers, as GPT-2
    activation: str = "gelu_tanh"  # GPT-2 uses the tanh approximation of GELU
    pos_embedding: str = "learned"  # "learned" (GPT-2), "sinusoidal" (tokens × √n_embd, as in 2017) or "rope"
    tie_embeddings: bool = True
    attn_backend: str = "sdpa"  # "naive" = explicit softmax(QKᵀ/√d)V, "sdpa" = PyTorch fused, "auto", …
    norm: str = "layernorm"  # "layernorm" (GPT-2) or "rmsnorm" (Llama, Qwen)
    norm_eps: float = 1e-5
    d_ff: int | None = None  # feed-forward width; None: 4 · n_embd
    head_dim: int | None = None  # None: n_embd // n_head; attention maps n_head · head_dim -> n_embd
    n_kv_head: int | None = None  # K/V heads; None: n_head; fewer: grouped-query; 1: multi-query
    qkv_bias: bool | None = None  # biases on q/k/v projections; None: as ``bias``
    rope_theta: float = 10000.0  # RoPE base θ (pos_embedding="rope")
    qk_norm: bool = False  # RMSNorm on each head's q and k (Qwen3)
    window: int | None = None  # sliding-window attention: a query sees its last ``window`` positions
    n_experts: int = 0  # mixture-of-experts feed-forward with this many experts; 0: dense
    expert_top_k: int = 2  # experts per token
    expert_d_ff: int | None = None  # width of each expert; None: d_ff
    n_shared_experts: int = 0  # experts every token uses (DeepSeek-MoE)
    expert_norm_topk: bool = True  # renormalise the top-k gates to sum to 1
    aux_loss_coef: float = 0.01  # weight of the load-balancing loss (Switch Transformer's α)

    def __post_init__(self):
        check_fields(self)  # types first: a string for a bool, inf or nan is refused by name
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.head_dim is None and self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head} (or set head_dim)")
        self._check_beyond_gpt2()
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {ACTIVATIONS}")
        if self.pos_embedding not in POSITION_KINDS:
            raise ValueError(f"unknown pos_embedding {self.pos_embedding!r}; choose one of {POSITION_KINDS}")
        check_backend(self.attn_backend, "attn_backend")  # "auto" or a name in minillm.kernels.BACKENDS
        if self.pos_embedding == "rope" and self.head_size % 2:
            raise ValueError(f"rope needs an even head size, got {self.head_size}")

    def _check_beyond_gpt2(self) -> None:
        check_norm(self.norm)
        for name in ("d_ff", "head_dim", "n_kv_head", "expert_d_ff"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be None or a positive integer, got {value!r}")
        if self.n_head % self.kv_heads:
            raise ValueError(f"n_head={self.n_head} is not divisible by n_kv_head={self.n_kv_head}; use a divisor")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be None or >= 1, got {self.window}")
        for name in ("norm_eps", "rope_theta"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_experts < 0 or self.n_shared_experts < 0 or self.aux_loss_coef < 0:
            raise ValueError(
                f"n_experts={self.n_experts}, n_shared_experts={self.n_shared_experts} and "
                f"aux_loss_coef={self.aux_loss_coef} must be >= 0"
            )
        if self.n_experts and not 1 <= self.expert_top_k <= self.n_experts:
            raise ValueError(f"expert_top_k={self.expert_top_k} must be in 1..n_experts={self.n_experts}")

    # the None defaults resolved: what the model is built with
    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head if self.head_dim is None else self.head_dim

    @property
    def kv_heads(self) -> int:
        return self.n_head if self.n_kv_head is None else self.n_kv_head

    @property
    def ff_size(self) -> int:
        return 4 * self.n_embd if self.d_ff is None else self.d_ff

    @property
    def expert_ff_size(self) -> int:
        return self.ff_size if self.expert_d_ff is None else self.expert_d_ff

    @classmethod
    def from_name(cls, name: str, **overrides) -> GPTConfig:
        """A named shape (minillm/models/presets.py): "gpt2" … "gpt2-xl", "llama-3.2-1b",
        "qwen2.5-0.5b", "qwen3-0.6b", "qwen3-30b-a3b", "mixtral-8x7b"."""
        if name not in PRESETS:
            raise ValueError(f"unknown model name {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


def config_from_file(fields: dict, source) -> GPTConfig:
    """A GPTConfig from fields read from ``source``; an unknown key or a bad value names the file."""
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(GPTConfig)})
    if unknown:
        raise ValueError(f"{source}: unknown model config key(s) {unknown}")
    try:
        return GPTConfig(**fields)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
