"""Whole models: GPT-2 (gpt.py), the later decoder family (llama.py) and the 2017 encoder-decoder (transformer.py)."""

from minillm.models.gpt import GPT, GPTConfig
from minillm.models.llama import Llama, LlamaConfig
from minillm.models.transformer import Transformer, TransformerConfig

__all__ = ["GPT", "GPTConfig", "Llama", "LlamaConfig", "Transformer", "TransformerConfig"]
