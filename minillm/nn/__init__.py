"""Building blocks of report §1.2.1, one concept per file."""

from minillm.nn.attention import MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention
from minillm.nn.embeddings import LearnedPositionalEmbedding, RoPE, SinusoidalPositionalEncoding, TokenEmbedding
from minillm.nn.experts import MoEFeedForward
from minillm.nn.feedforward import FeedForward
from minillm.nn.kv_cache import KVCache
from minillm.nn.layers import DecoderLayer, EncoderLayer
from minillm.nn.norms import RMSNorm

__all__ = [
    "DecoderLayer",
    "EncoderLayer",
    "FeedForward",
    "KVCache",
    "LearnedPositionalEmbedding",
    "MoEFeedForward",
    "MultiHeadAttention",
    "RMSNorm",
    "RoPE",
    "SinusoidalPositionalEncoding",
    "TokenEmbedding",
    "causal_mask",
    "padding_mask",
    "scaled_dot_product_attention",
]
