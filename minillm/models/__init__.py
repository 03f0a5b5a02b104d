"""Whole models: the encoder-decoder Transformer and the decoder-only GPT."""

from minillm.models.gpt import GPT, GPTConfig
from minillm.models.transformer import Transformer, TransformerConfig

__all__ = ["GPT", "GPTConfig", "Transformer", "TransformerConfig"]
