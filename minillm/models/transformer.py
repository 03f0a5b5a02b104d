"""The encoder-decoder Transformer of Vaswani et al. (2017), as the report draws it.

Report §1.2.1 (Transformer 架构), its four parts:

    input part (输入部分)   token embedding × √n_embd + sinusoidal positional encoding
    encoder (编码器)        N encoder layers: self-attention + feed-forward
    decoder (解码器)        N decoder layers: masked self-attention + cross-attention to the
                            encoder output + feed-forward
    output part (输出部分)  linear layer to the target vocabulary + softmax (in generation)

The base configuration (n_embd 512, 8 heads, 6 + 6 layers, d_ff 2048, one shared 37k-token
vocabulary for source and target, embeddings tied with the output layer) has about 63 M
parameters here; the paper's table 3 reports 65 M.

Docs: docs/transformer.md#the-encoder-decoder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from minillm.decoding.beam_search import beam_search, check_num_beams
from minillm.kernels import check_backend
from minillm.nn.embeddings import SinusoidalPositionalEncoding, TokenEmbedding
from minillm.nn.feedforward import ACTIVATIONS
from minillm.nn.kv_cache import KVCache, new_caches
from minillm.nn.layers import DecoderLayer, EncoderLayer
from minillm.utils.configs import check_fields, from_flat_dict, refuse_renamed

__all__ = ["Transformer", "TransformerConfig"]


@refuse_renamed
@dataclass
class TransformerConfig:
    """Hyper-parameters; defaults are the paper's base model."""

    src_vocab_size: int
    tgt_vocab_size: int
    n_embd: int = 512
    n_head: int = 8
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    block_size: int = 512
    norm_first: bool = False  # the paper is post-norm
    share_embeddings: bool = False  # one matrix for source, target and output (needs one vocab)
    activation: str = "relu"
    pad_id: int | None = None  # if set, padding masks are built from the token ids
    attn_backend: str = "sdpa"

    def __post_init__(self):
        check_fields(self)  # types first: True for an int, a string for a bool, nan or inf are refused by name
        for name in ("src_vocab_size", "tgt_vocab_size", "n_embd", "n_head", "d_ff", "block_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("n_encoder_layers", "n_decoder_layers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {ACTIVATIONS}")
        check_backend(self.attn_backend, "attn_backend")  # "auto" or a name in minillm.kernels.BACKENDS
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary: "
                f"src_vocab_size={self.src_vocab_size} != tgt_vocab_size={self.tgt_vocab_size}"
            )
        if self.pad_id is not None and not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(f"pad_id={self.pad_id} is outside the vocabularies")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, fields: dict, source: str = "config") -> TransformerConfig:
        """The config of a dict ``to_dict`` wrote (keys of an earlier release read through the rename
        table, minillm.utils.configs.RENAMED, with a DeprecationWarning); an unknown key or a bad value
        is one ValueError naming ``source``."""
        return from_flat_dict(cls, fields, source=source)


class Transformer(nn.Module):
    """Encoder-decoder. ``forward(src, tgt) -> logits (B, T_tgt, tgt_vocab_size)``."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise TypeError(f"Transformer expects a TransformerConfig, got {type(config).__name__}")
        self.config = c = config
        layer_args = dict(
            d_ff=c.d_ff,
            dropout=c.dropout,
            activation=c.activation,
            norm_first=c.norm_first,
            attn_backend=c.attn_backend,
        )
        self.src_embed = TokenEmbedding(c.src_vocab_size, c.n_embd)
        self.tgt_embed = self.src_embed if c.share_embeddings else TokenEmbedding(c.tgt_vocab_size, c.n_embd)
        self.pos_encoding = SinusoidalPositionalEncoding(c.n_embd, c.block_size, dropout=c.dropout)
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(c.n_embd, c.n_head, **layer_args) for _ in range(c.n_encoder_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(c.n_embd, c.n_head, **layer_args) for _ in range(c.n_decoder_layers)
        )
        # Pre-norm stacks end with one more LayerNorm; post-norm layers already end normalised.
        self.encoder_norm = nn.LayerNorm(c.n_embd) if c.norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(c.n_embd) if c.norm_first else nn.Identity()
        self.output = nn.Linear(c.n_embd, c.tgt_vocab_size, bias=not c.share_embeddings)
        self._init_weights()
        if c.share_embeddings:
            self.output.weight = self.tgt_embed.weight

    def _init_weights(self) -> None:
        for name, p in self.named_parameters():
            if "embed" in name:
                # Unit variance after the √n_embd scale, whatever the vocabulary size.
                nn.init.normal_(p, mean=0.0, std=self.config.n_embd**-0.5)
            elif p.dim() > 1:
                nn.init.xavier_uniform_(p)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _key_mask(self, tokens: Tensor, mask: Tensor | None, name: str) -> Tensor | None:
        """(B, T) padding mask (True = real token) → (B, 1, 1, T) attention mask."""
        if mask is None and self.config.pad_id is not None:
            mask = tokens != self.config.pad_id
        if mask is None:
            return None
        if mask.shape != tokens.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"{name} must be a bool (B, T) tensor shaped like the tokens {tuple(tokens.shape)} "
                f"(True = real token), got {mask.dtype} {tuple(mask.shape)}"
            )
        return mask[:, None, None, :]  # (B, 1, 1, T)

    def _check_tokens(self, tokens: Tensor, name: str) -> None:
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(f"{name} must be (B, T) token ids with T >= 1, got shape {tuple(tokens.shape)}")
        if tokens.shape[1] > self.config.block_size:
            raise ValueError(f"{name} length {tokens.shape[1]} exceeds block_size={self.config.block_size}")

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """src (B, T_src) → memory (B, T_src, n_embd)."""
        self._check_tokens(src, "src")
        attn_mask = self._key_mask(src, src_mask, "src_mask")
        x = self.pos_encoding(self.src_embed(src))  # (B, T_src, n_embd)
        for layer in self.encoder_layers:
            x = layer(x, mask=attn_mask)
        return self.encoder_norm(x)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        kv_caches: list[KVCache] | None = None,
    ) -> Tensor:
        """tgt (B, T_tgt) + memory → logits (B, T_tgt, tgt_vocab_size).

        ``src_mask`` is the (B, T_src) padding mask of the source that produced ``memory``.
        With ``kv_caches`` ``tgt`` holds only the new target tokens.
        """
        past = kv_caches[0].length if kv_caches else 0
        if tgt.dim() != 2:
            raise ValueError(f"tgt must be (B, T) token ids, got shape {tuple(tgt.shape)}")
        if past + tgt.shape[1] > self.config.block_size:
            raise ValueError(f"target length {past + tgt.shape[1]} exceeds block_size={self.config.block_size}")
        if memory.dim() != 3 or memory.shape[0] != tgt.shape[0] or memory.shape[-1] != self.config.n_embd:
            raise ValueError(
                f"memory must be (B={tgt.shape[0]}, T_src, n_embd={self.config.n_embd}), got {tuple(memory.shape)}"
            )
        memory_mask = None
        if src_mask is not None:
            if src_mask.shape != memory.shape[:2] or src_mask.dtype != torch.bool:
                raise ValueError(
                    f"src_mask must be bool {tuple(memory.shape[:2])}, got {src_mask.dtype} {tuple(src_mask.shape)}"
                )
            memory_mask = src_mask[:, None, None, :]  # (B, 1, 1, T_src)
        self_mask = self._key_mask(tgt, tgt_mask, "tgt_mask") if kv_caches is None else None
        x = self.pos_encoding(self.tgt_embed(tgt), offset=past)  # (B, T_tgt, n_embd)
        for i, layer in enumerate(self.decoder_layers):
            cache = kv_caches[i] if kv_caches is not None else None
            x = layer(x, memory, tgt_mask=self_mask, memory_mask=memory_mask, kv_cache=cache)
        return self.output(self.decoder_norm(x))  # (B, T_tgt, tgt_vocab_size)

    def forward(
        self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None
    ) -> Tensor:
        """Teacher forcing: logits for every target position (B, T_tgt, tgt_vocab_size).

        Masks are (B, T) booleans, True for real tokens; when omitted and ``config.pad_id`` is
        set they are computed from the tokens.
        """
        self._check_tokens(tgt, "tgt")
        if src.dim() == 2 and tgt.shape[0] != src.shape[0]:
            raise ValueError(f"batch sizes differ: src {tuple(src.shape)} vs tgt {tuple(tgt.shape)}")
        if src_mask is None and self.config.pad_id is not None:
            src_mask = src != self.config.pad_id
        memory = self.encode(src, src_mask)
        return self.decode(tgt, memory, src_mask, tgt_mask)

    @torch.no_grad()
    def generate(
        self,
        src: Tensor,
        max_new_tokens: int,
        bos_id: int,
        eos_id: int | None = None,
        src_mask: Tensor | None = None,
        **sampling,
    ) -> Tensor:
        """Encode ``src`` once, then decode from ``bos_id``; returns (B, 1 + n) target ids.

        ``sampling`` is passed to ``minillm.decoding.generation.generate`` (temperature, top_k, top_p,
        use_cache, generator); use ``translate`` for greedy decoding.
        """
        from minillm.decoding.generation import generate

        was_training = self.training
        self.eval()
        try:  # the caller's training mode comes back even if encoding or decoding raises
            if src_mask is None and self.config.pad_id is not None:
                src_mask = src != self.config.pad_id
            memory = self.encode(src, src_mask)
            start = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
            max_new_tokens = min(max_new_tokens, self.config.block_size - 1)
            return generate(_DecoderView(self, memory, src_mask), start, max_new_tokens, eos_id=eos_id, **sampling)
        finally:
            self.train(was_training)

    def translate(
        self,
        src: Tensor,
        max_new_tokens: int,
        bos_id: int,
        eos_id: int | None = None,
        num_beams: int = 1,
        length_penalty: float = 0.0,
        **kw,
    ) -> Tensor:
        """Greedy decoding (``num_beams=1``) or beam search (see ``minillm.decoding.beam_search``)."""
        check_num_beams(num_beams)
        if num_beams == 1:
            return self.generate(src, max_new_tokens, bos_id, eos_id, temperature=0.0, **kw)
        was_training = self.training
        self.eval()
        try:  # the caller's training mode comes back even if encoding or the search raises
            src_mask = kw.pop("src_mask", None)
            if src_mask is None and self.config.pad_id is not None:
                src_mask = src != self.config.pad_id
            memory = self.encode(src, src_mask)  # (B, T_src, n_embd): encoded once, shared by the beams
            memory = memory.repeat_interleave(num_beams, dim=0)  # (B·k, T_src, n_embd), beam_search's layout
            src_mask = None if src_mask is None else src_mask.repeat_interleave(num_beams, dim=0)
            start = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
            max_new_tokens = min(max_new_tokens, self.config.block_size - 1)
            view = _DecoderView(self, memory, src_mask)
            return beam_search(view, start, max_new_tokens, num_beams, eos_id, length_penalty, **kw)
        finally:
            self.train(was_training)


class _DecoderView:
    """Presents the decoder, with a fixed encoder output, to ``generate``."""

    def __init__(self, model: Transformer, memory: Tensor, src_mask: Tensor | None):
        self.model, self.memory, self.src_mask = model, memory, src_mask
        self.training = False

    @property
    def block_size(self) -> int:
        return self.model.config.block_size

    @property
    def vocab_size(self) -> int:
        return self.model.config.tgt_vocab_size

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def new_kv_caches(self) -> list[KVCache]:
        return new_caches(len(self.model.decoder_layers), self.block_size)

    def decode_step(self, tgt: Tensor, kv_caches: list[KVCache] | None) -> Tensor:
        return self.model.decode(tgt, self.memory, self.src_mask, kv_caches=kv_caches)
