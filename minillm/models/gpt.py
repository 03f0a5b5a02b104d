"""GPT: the decoder-only Transformer (GPT-1/2/3 family).

Report §1.2.1 and §1.2 (timeline: GPT-1 2018 → ChatGPT 2022). A GPT keeps only the decoder side
of the report's architecture, without cross-attention: token + position embeddings, N pre-norm
blocks of causal self-attention and feed-forward, a final LayerNorm, and a linear "output part"
whose weight is tied to the token embedding. Trained to predict token t+1 from tokens 0..t:

    loss = mean_t  -log softmax(logits_t)[x_{t+1}]

GPT-2 small (12 layers, 12 heads, 768 wide, 50257 tokens, 1024 context) has 124,439,808
parameters with tied embeddings (Radford et al. 2019, table 2 rounds it to 117M).

The same class builds Llama-, Qwen- and mixture-of-experts-shaped models: RMSNorm, SwiGLU, RoPE
with a large θ, grouped-query attention, QK-norm, sliding windows, experts are each one config
field (docs/beyond.md; named shapes in minillm/models/presets.py). With experts, ``forward``
adds ``aux_loss_coef`` × the load-balancing loss to ``loss`` and keeps it as ``model.aux_loss``.

Docs: docs/transformer.md#decoder-only-gpt.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minillm.configs import check_fields
from minillm.kernels import check_backend
from minillm.models.hf_llama import read_hf_dir, write_hf_dir
from minillm.models.presets import PRESETS
from minillm.models.pretrained import Pretrained, load_weights, locate
from minillm.nn.embeddings import LearnedPositionalEmbedding, RoPE, SinusoidalPositionalEncoding, TokenEmbedding
from minillm.nn.experts import MoEFeedForward
from minillm.nn.feedforward import ACTIVATIONS
from minillm.nn.kv_cache import KVCache, new_caches
from minillm.nn.layers import GPTBlock
from minillm.nn.norms import check_norm, make_norm

__all__ = ["GPT", "GPTConfig"]

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
    pos_embedding: str = "learned"  # "learned" (GPT-2), "sinusoidal" or "rope"
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


def _config_from_file(fields: dict, source) -> GPTConfig:
    """A GPTConfig from fields read from ``source``; an unknown key or a bad value names the file."""
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(GPTConfig)})
    if unknown:
        raise ValueError(f"{source}: unknown model config key(s) {unknown}")
    try:
        return GPTConfig(**fields)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


class GPT(nn.Module):
    """Decoder-only language model. ``forward(idx, targets=None) -> (logits, loss)``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        self.wte = TokenEmbedding(c.vocab_size, c.n_embd, scale=False)
        rope = None
        if c.pos_embedding == "learned":
            self.wpe = LearnedPositionalEmbedding(c.block_size, c.n_embd)
        elif c.pos_embedding == "sinusoidal":
            self.wpe = SinusoidalPositionalEncoding(c.n_embd, c.block_size)
        else:
            self.wpe = None
            rope = RoPE(c.head_size, c.block_size, base=c.rope_theta)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            GPTBlock(
                c.n_embd,
                c.n_head,
                c.dropout,
                c.bias,
                c.activation,
                c.attn_backend,
                rope,
                c.ff_size,
                norm=c.norm,
                norm_eps=c.norm_eps,
                n_kv_head=c.n_kv_head,
                head_dim=c.head_dim,
                qkv_bias=c.qkv_bias,
                qk_norm=c.qk_norm,
                window=c.window,
                n_experts=c.n_experts,
                expert_top_k=c.expert_top_k,
                expert_d_ff=c.expert_d_ff,
                n_shared_experts=c.n_shared_experts,
                expert_norm_topk=c.expert_norm_topk,
            )
            for _ in range(c.n_layer)
        )
        self.ln_f = make_norm(c.norm, c.n_embd, c.norm_eps, c.bias)
        self.aux_loss: Tensor | None = None  # the experts' load-balancing loss of the last forward
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # one matrix reads and writes tokens
        self.apply(self._init_weights)
        # GPT-2: scale the init of layers that write into the residual stream by 1/√(2·n_layer),
        # so the stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith(("out_proj.weight", "fc2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def max_len(self) -> int:
        return self.config.block_size

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def num_parameters(self, exclude_positions: bool = False) -> int:
        """Unique parameters (tied matrices counted once)."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_positions and isinstance(self.wpe, LearnedPositionalEmbedding):
            n -= self.wpe.weight.numel()
        return n

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        kv_caches: list[KVCache] | None = None,
        left_pad: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """idx: (B, T) token ids → logits (B, T, vocab); loss if ``targets`` (B, T) are given.

        Targets equal to -100 are ignored in the loss (used to mask prompts in fine-tuning); the
        loss is the mean over the others, and 0 (with zero gradients) when every target is ignored.
        With ``kv_caches`` (one per block, see ``new_kv_caches``) ``idx`` holds only the new tokens.
        ``left_pad`` (B,) counts each row's left-padding columns (batched generation): they are
        hidden from every query and the row's positions start after them.
        """
        if not isinstance(idx, Tensor) or (targets is not None and not isinstance(targets, Tensor)):
            raise TypeError(
                f"idx and targets must be tensors of token ids, got {type(idx).__name__}, {type(targets).__name__}"
            )
        if idx.dim() != 2 or idx.shape[1] == 0 or idx.is_floating_point() or idx.dtype == torch.bool:
            raise ValueError(
                f"idx must be (B, T) integer token ids with T >= 1, got shape {tuple(idx.shape)} {idx.dtype}"
            )
        if targets is not None and (targets.is_floating_point() or targets.dtype == torch.bool):
            raise ValueError(f"targets must be integer token ids (-100 = ignored), got {targets.dtype}")
        past = kv_caches[0].length if kv_caches else 0
        t = idx.shape[1]
        if past + t > self.config.block_size:
            raise ValueError(
                f"sequence of length {past + t} exceeds block_size={self.config.block_size}"
                + (f" ({past} cached + {t} new)" if past else "")
            )
        if targets is not None and targets.shape != idx.shape:
            raise ValueError(f"targets shape {tuple(targets.shape)} must equal idx shape {tuple(idx.shape)}")
        if kv_caches is not None and len(kv_caches) != len(self.blocks):
            raise ValueError(f"need one KV cache per block: got {len(kv_caches)}, have {len(self.blocks)} blocks")

        logits = self.lm_head(self.features(idx, kv_caches, left_pad))  # (B, T, vocab_size)

        loss = None
        if targets is not None:
            # sum / count rather than reduction="mean": mean over zero kept targets is 0/0 = NaN, which
            # would poison every gradient of a batch whose targets are all ignored (-100)
            total = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100, reduction="sum")
            loss = total / (targets != -100).sum().clamp_min(1)
        self.aux_loss = self._experts_aux_loss()
        if loss is not None and self.aux_loss is not None:
            loss = loss + self.config.aux_loss_coef * self.aux_loss
        return logits, loss

    def _experts_aux_loss(self) -> Tensor | None:
        """Mean over the MoE layers of their load-balancing losses (None for a dense model), so the
        coefficient means the same at any depth."""
        losses = [b.mlp.aux_loss for b in self.blocks if isinstance(b.mlp, MoEFeedForward)]
        return torch.stack(losses).mean() if losses else None

    def features(self, idx: Tensor, kv_caches: list[KVCache] | None = None, left_pad: Tensor | None = None) -> Tensor:
        """The final hidden states (B, T, n_embd), after ln_f: what the output layer — or a reward or
        value head (minillm.rlhf) — reads."""
        past = kv_caches[0].length if kv_caches else 0
        mask, offset = None, past
        if left_pad is not None:  # RoPE needs no shift: its scores depend only on q - k distances
            stored = kv_caches[0].stored if kv_caches else 0  # a rolling cache holds the last `stored`
            key_cols = torch.arange(past - stored, past + idx.shape[1], device=idx.device)  # (T_k,) columns
            mask = (key_cols >= left_pad[:, None])[:, None, None]  # (B, 1, 1, T_k): True = real token
            offset = past - left_pad  # (B,): row b's first real column is position 0
        x = self.wte(idx)  # (B, T, n_embd)
        if self.wpe is not None:
            x = self.wpe(x, offset=offset)  # (B, T, n_embd)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, mask=mask, kv_cache=kv_caches[i] if kv_caches is not None else None)  # (B, T, n_embd)
        return self.ln_f(x)

    # -- loading and saving (minillm.models.pretrained, minillm.models.hf_llama) -----------------
    @classmethod
    def from_pretrained(cls, path) -> GPT:
        """A GPT from a local directory: a minillm checkpoint (ckpt-*), a ``minillm train`` run
        directory (its newest checkpoint) or a Hugging Face directory of a GPT-2, Llama, Qwen2,
        Qwen3, Qwen3-MoE or Mixtral model (config.json + model.safetensors, its sharded index, or
        pytorch_model.bin), or what ``minillm.models.pretrained.locate`` found there. Never
        downloads. ``minillm.load`` also returns the tokenizer."""
        found = path if isinstance(path, Pretrained) else locate(path)
        if found.kind == "checkpoint":
            model = cls(_config_from_file(found.model_config, found.path / "state.json"))
            load_weights(found.path, model)
            return model
        config, state = read_hf_dir(found.path)
        model = cls(_config_from_file(config, found.path / "config.json"))
        target = model.state_dict()
        for name, value in state.items():
            if value.shape != target[name].shape:
                raise ValueError(
                    f"{path}: {name} has shape {tuple(value.shape)}, config.json implies {tuple(target[name].shape)}"
                )
        model.load_state_dict(state, strict=True)
        return model

    def save_pretrained(self, local_dir):
        """Write config.json + model.safetensors that ``transformers.AutoModelForCausalLM`` loads, in
        the layout this model is shaped like: GPT-2 (learned positions), else Llama, Qwen2, Qwen3,
        Qwen3-MoE or Mixtral (``minillm.models.hf_llama.family_of``)."""
        return write_hf_dir(self.config.to_dict(), self.state_dict(), local_dir)

    # -- the small interface minillm.generation.generate() uses --------------------------------
    def new_kv_caches(self) -> list[KVCache]:
        return new_caches(len(self.blocks), self.config.block_size, self.config.window)

    def decode_step(self, idx: Tensor, kv_caches: list[KVCache] | None, left_pad: Tensor | None = None) -> Tensor:
        return self(idx, kv_caches=kv_caches, left_pad=left_pad)[0]  # (B, T, vocab_size)

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, **sampling) -> Tensor:
        """Shortcut for ``minillm.generation.generate(self, idx, max_new_tokens, **sampling)``."""
        from minillm.generation import generate

        return generate(self, idx, max_new_tokens, **sampling)
