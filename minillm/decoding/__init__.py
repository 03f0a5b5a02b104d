"""Decoding: turning a model's next-token logits into text. Greedy, temperature, top-k and top-p sampling
with a KV cache and batched left padding (``generation``), and beam search (``beam_search``).

Docs: docs/transformer.md#generation.
"""

from minillm.decoding.beam_search import beam_search
from minillm.decoding.generation import generate, sample_next, top_k_filter, top_p_filter

__all__ = ["beam_search", "generate", "sample_next", "top_k_filter", "top_p_filter"]
