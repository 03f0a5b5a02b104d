"""One tiny decoder per kind of position, for the tests that run the same checks over all three.

GPT-2 (models/gpt.py) has learned or sinusoidal positions; rotary positions belong to the later
family (models/llama.py). ``decoder("rope", ...)`` is a Llama with GPT-2's other choices (LayerNorm
with biases, GELU, a 4x feed-forward, tied embeddings), so the three differ in positions only; any
field of ``fields`` overrides them (a LlamaConfig field for "rope", a GPTConfig field otherwise).
"""

from minillm.models import GPT, GPTConfig, Llama, LlamaConfig
from minillm.models.llama import LlamaAttention
from minillm.nn.embeddings import RoPE

POSITIONS = ("learned", "sinusoidal", "rope")


def llama_attention(**fields) -> LlamaAttention:
    """One LlamaAttention layer (models/llama.py) in eval mode, of a small LlamaConfig with ``fields``
    (n_embd, n_head, n_kv_head, head_dim, window, attn_backend, …), with its RoPE table built as Llama
    builds it (head_dim wide, block_size long, base rope_theta)."""
    c = LlamaConfig(**{"vocab_size": 8, "block_size": 32, "n_layer": 1, "d_ff": 8, **fields})
    return LlamaAttention(c, RoPE(c.head_dim, c.block_size, base=c.rope_theta)).eval()


def gpt2_like_llama_config(**fields) -> LlamaConfig:
    """A LlamaConfig that differs from GPT-2 only by its rotary positions (unless ``fields`` say otherwise)."""
    gpt2 = {"norm": "layernorm", "activation": "gelu_tanh", "bias": True, "tie_embeddings": True}
    return LlamaConfig(**{**gpt2, "d_ff": 4 * fields.get("n_embd", 768), **fields})


def decoder(pos: str, **fields) -> GPT | Llama:
    """GPT(GPTConfig(pos_embedding=pos, **fields)) for "learned" / "sinusoidal"; a GPT-2-like Llama for "rope"."""
    if pos == "rope":
        return Llama(gpt2_like_llama_config(**fields))
    return GPT(GPTConfig(pos_embedding=pos, **fields))
