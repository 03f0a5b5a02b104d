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

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minillm.models.gpt_config import GPTConfig, config_from_file
from minillm.models.hf import read_hf_dir, write_hf_dir
from minillm.models.pretrained import Pretrained, load_weights, locate
from minillm.nn.embeddings import LearnedPositionalEmbedding, RoPE, SinusoidalPositionalEncoding, TokenEmbedding
from minillm.nn.experts import MoEFeedForward
from minillm.nn.kv_cache import KVCache, new_caches
from minillm.nn.layers import GPTBlock
from minillm.nn.norms import make_norm

__all__ = ["GPT", "GPTConfig"]  # GPTConfig is defined in models/gpt_config.py


class GPT(nn.Module):
    """Decoder-only language model. ``forward(idx, targets=None) -> (logits, loss)``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        # A fixed sinusoidal table has rows of norm √(d/2); GPT-2's std-0.02 token vectors (norm ~0.02·√d)
        # would be a ripple on it, and the model stalls (docs/transformer.md, "A trap on the way"). With
        # that table, tokens are scaled by √d as in the 2017 paper; learned positions and RoPE keep GPT-2's.
        self.wte = TokenEmbedding(c.vocab_size, c.n_embd, scale=c.pos_embedding == "sinusoidal")
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
        self._check_inputs(idx, targets, kv_caches)
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

    def _check_inputs(self, idx: Tensor, targets: Tensor | None, kv_caches: list[KVCache] | None) -> None:
        """The argument checks of ``forward`` and ``decode_step``, before any work."""
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
            model = cls(config_from_file(found.model_config, found.path / "state.json"))
            load_weights(found.path, model)
            return model
        config, state = read_hf_dir(found.path)
        model = cls(config_from_file(config, found.path / "config.json"))
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

    # -- the small interface minillm.decoding.generation.generate() uses --------------------------------
    def new_kv_caches(self) -> list[KVCache]:
        return new_caches(len(self.blocks), self.config.block_size, self.config.window)

    def decode_step(self, idx: Tensor, kv_caches: list[KVCache] | None, left_pad: Tensor | None = None) -> Tensor:
        """Logits of the newest position only, (B, 1, vocab_size): all a decoder samples from. On the
        first step (the whole prompt) that skips the output layer for every earlier position, about
        a third of a GPT-2-small prompt's FLOPs (Hugging Face ``generate`` keeps one position too).
        ``forward(idx, kv_caches=...)`` returns every position."""
        self._check_inputs(idx, None, kv_caches)
        return self.lm_head(self.features(idx, kv_caches, left_pad)[:, -1:])  # (B, 1, vocab_size)

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, **sampling) -> Tensor:
        """Shortcut for ``minillm.decoding.generation.generate(self, idx, max_new_tokens, **sampling)``."""
        from minillm.decoding.generation import generate

        return generate(self, idx, max_new_tokens, **sampling)
