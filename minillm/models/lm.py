"""What every decoder-only language model here shares, so each model file holds only its architecture.

Report §1.2: a language model is trained to predict token t+1 from tokens 0..t,

    loss = mean over the kept targets of  -log softmax(logits_t)[target_t]      (-100 = ignored)

and, once trained, generates one token at a time. ``LanguageModel`` is the plumbing around that
idea: the input checks (once, at ``forward``), the weight initialisation of GPT-2, the small
interface the decoders use (``block_size``, ``new_kv_caches``, ``decode_step``) and loading and
saving (``from_pretrained``, ``save_pretrained``; minillm.models.saved reads a directory,
minillm.models.families picks the class). models/gpt.py and models/llama.py subclass it and define ``features`` and ``forward``.

Docs: docs/transformer.md#decoder-only-gpt.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minillm.models.hf import write_hf_dir
from minillm.models.saved import fill, read_pretrained
from minillm.nn.kv_cache import KVCache, new_caches
from minillm.utils.configs import renamed_keys

__all__ = ["LanguageModel", "check_tokens", "next_token_loss"]


def next_token_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits`` (B, T, V) against ``targets`` (B, T); -100 marks a target to
    ignore (a prompt in fine-tuning), and a batch whose targets are all ignored has loss 0."""
    # sum / count rather than reduction="mean": a mean over zero kept targets is 0/0 = NaN, which
    # would poison every gradient of the batch
    total = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100, reduction="sum")
    return total / (targets != -100).sum().clamp_min(1)


def check_tokens(model, idx: Tensor, targets: Tensor | None, kv_caches: list[KVCache] | None) -> None:
    """The checks of a model's ``forward`` and ``decode_step``, before any work: token ids of the
    right shape and range, targets of the same shape, a context that fits, one cache per block."""
    if not isinstance(idx, Tensor) or (targets is not None and not isinstance(targets, Tensor)):
        raise TypeError(
            f"idx and targets must be tensors of token ids, got {type(idx).__name__}, {type(targets).__name__}"
        )
    if idx.dim() != 2 or idx.shape[1] == 0 or idx.is_floating_point() or idx.dtype == torch.bool:
        raise ValueError(f"idx must be (B, T) integer token ids with T >= 1, got shape {tuple(idx.shape)} {idx.dtype}")
    vocab, context = model.config.vocab_size, model.config.block_size
    if not idx.is_cuda and (int(idx.min()) < 0 or int(idx.max()) >= vocab):  # on CUDA the read-back costs a sync
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise ValueError(f"token ids must lie in the vocabulary [0, {vocab}), got {bad}")
    if targets is not None:
        if targets.is_floating_point() or targets.dtype == torch.bool:
            raise ValueError(f"targets must be integer token ids (-100 = ignored), got {targets.dtype}")
        if targets.shape != idx.shape:
            raise ValueError(f"targets shape {tuple(targets.shape)} must equal idx shape {tuple(idx.shape)}")
        kept = targets[targets != -100]
        if not targets.is_cuda and kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= vocab):
            bad = int(kept.min()) if int(kept.min()) < 0 else int(kept.max())
            raise ValueError(f"target ids must lie in the vocabulary [0, {vocab}) or be -100 (ignored), got {bad}")
    past = kv_caches[0].length if kv_caches else 0
    if past + idx.shape[1] > context:
        cached = f" ({past} cached + {idx.shape[1]} new)" if past else ""
        raise ValueError(f"sequence of length {past + idx.shape[1]} exceeds block_size={context}{cached}")
    if kv_caches is not None and len(kv_caches) != len(model.blocks):
        raise ValueError(f"need one KV cache per block: got {len(kv_caches)}, have {len(model.blocks)} blocks")
    need = getattr(model.config, "window", None) or context  # the keys a query may still attend to
    short = [c.window for c in kv_caches or () if c.window is not None and c.window < need]
    if short:
        raise ValueError(
            f"a KV cache of window={short[0]} drops keys this model attends to (it needs {need}); "
            "use model.new_kv_caches()"
        )


class LanguageModel(nn.Module):
    """The base of GPT and Llama: ``config`` (with vocab_size and block_size), ``blocks``, ``lm_head``
    and ``features(idx, *, kv_caches, pos, mask)`` come from the subclass."""

    config: object
    blocks: nn.ModuleList
    lm_head: nn.Linear

    def init_weights(self, residual_writers: tuple[str, ...]) -> None:
        """GPT-2's initialisation: every Linear and Embedding weight from N(0, 0.02²), biases 0, norms 1;
        the layers that write into the residual stream (``residual_writers``, name endings) with std
        0.02/√(2·n_layer), so the stream's variance does not grow with depth."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, p in self.named_parameters():
            if name.endswith(residual_writers):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer))

    @property
    def block_size(self) -> int:
        return self.config.block_size

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def num_parameters(self, exclude_positions: bool = False) -> int:
        """Unique parameters (a tied matrix counted once); ``exclude_positions`` leaves out a learned
        position table, as GPT-2's paper counts."""
        n = sum(p.numel() for p in self.parameters())
        wpe = getattr(self, "wpe", None)
        return n - wpe.weight.numel() if exclude_positions and isinstance(wpe, nn.Embedding) else n

    # -- the small interface minillm.decoding uses --------------------------------------------------
    def new_kv_caches(self) -> list[KVCache]:
        return new_caches(len(self.blocks), self.config.block_size, window=getattr(self.config, "window", None))

    def decode_step(
        self, idx: Tensor, kv_caches: list[KVCache] | None, pos: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Logits of the newest position only, (B, 1, vocab_size): all a decoder samples from. On the
        first step (the whole prompt) that skips the output layer for every earlier position, about a
        third of a GPT-2-small prompt's FLOPs (Hugging Face ``generate`` keeps one position too)."""
        check_tokens(self, idx, None, kv_caches)
        return self.lm_head(self.features(idx, kv_caches=kv_caches, pos=pos, mask=mask)[:, -1:])  # (B, 1, V)

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, **sampling) -> Tensor:
        """Shortcut for ``minillm.decoding.generate(self, idx, max_new_tokens, **sampling)``."""
        from minillm.decoding.generation import generate

        return generate(self, idx, max_new_tokens, **sampling)

    # -- loading and saving (minillm.models.saved reads a directory, minillm.models.hf writes one) ----
    family: str  # "gpt" or "llama": what a saved config's "family" names
    config_class: type

    @classmethod
    def config_from_fields(cls, fields: dict, source="config"):
        """This family's config from saved ``fields``; an unknown key or a bad value names ``source``."""
        fields = renamed_keys(fields, cls.config_class, source)  # keys of an earlier release, with a warning
        unknown = sorted(set(fields) - set(cls.config_class.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{source}: unknown {cls.config_class.__name__} key(s) {unknown}")
        try:
            return cls.config_class(**fields)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None

    @classmethod
    def from_parts(cls, fields: dict, state: dict, source):
        """A model of this class built from saved config ``fields`` and filled with ``state``."""
        return fill(cls(cls.config_from_fields(fields, source)), state, source)

    @classmethod
    def from_pretrained(cls, path):
        """A model from a local directory: a minillm checkpoint (ckpt-*), a ``minillm train`` run
        directory (its newest checkpoint) or a Hugging Face directory (GPT-2 into GPT; Llama, Qwen2,
        Qwen3, Qwen3-MoE, Mixtral into Llama). Never downloads. ``minillm.load`` takes either family
        and also returns the tokenizer."""
        family, fields, state, source = read_pretrained(path)
        if family != cls.family:
            other = {"gpt": "GPT", "llama": "Llama"}.get(family, family)
            raise ValueError(
                f"{path} holds a {other} model, not a {cls.__name__}; use {other}.from_pretrained or minillm.load"
            )
        return cls.from_parts(fields, state, source)

    def save_pretrained(self, local_dir):
        """Write config.json + model.safetensors that ``transformers.AutoModelForCausalLM`` opens, in
        the Hugging Face layout of this model's family (GPT-2, or Llama, Qwen2, Qwen3, Qwen3-MoE, Mixtral)."""
        return write_hf_dir(self.config, self.state_dict(), local_dir)
