"""minillm: a minimal, tested Transformer and RLHF library that follows an LLM report chapter.

Start with ``minillm.nn.attention`` (report §1.2.1), then ``minillm.models``.
"""

__version__ = "0.1.0"

from minillm.decoding.beam_search import beam_search
from minillm.decoding.generation import generate
from minillm.models import GPT, GPTConfig, Llama, LlamaConfig, Transformer, TransformerConfig
from minillm.models.loading import load
from minillm.nn import FeedForward, MultiHeadAttention, scaled_dot_product_attention
from minillm.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer

__all__ = [
    "__version__",
    "scaled_dot_product_attention",
    "MultiHeadAttention",
    "FeedForward",
    "GPT",
    "GPTConfig",
    "Llama",
    "LlamaConfig",
    "Transformer",
    "TransformerConfig",
    "BPETokenizer",
    "CharTokenizer",
    "load_tokenizer",
    "load",
    "generate",
    "beam_search",
]
