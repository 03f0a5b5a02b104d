"""GPT (and, for rotary positions, a GPT-2-like Llama): sizes, masks, config errors, and that it actually
learns. The input checks and the loss both families share: tests/models/test_lm.py. The encoder-decoder
Transformer is tests/models/test_transformer.py."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from helpers.decoders import POSITIONS, decoder

from minillm import GPT, GPTConfig
from minillm.kernels import BACKENDS
from minillm.models import Llama, LlamaConfig
from minillm.models.gpt import CausalSelfAttention
from minillm.nn.embeddings import RoPE


def tiny_gpt(pos="learned", **kw) -> GPT | Llama:
    """A GPT with learned or sinusoidal positions, or a GPT-2-like Llama for "rope"."""
    return decoder(pos, **{**dict(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=32), **kw})


def test_gpt2_small_has_exactly_124_439_808_parameters():
    with torch.device("meta"):
        model = GPT(GPTConfig())
    assert model.num_parameters() == 124_439_808
    assert model.lm_head.weight is model.wte.weight  # tied


def test_gpt2_sizes_match_transformers_parameter_counts():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=3, n_head=4, n_embd=64, vocab_size=101, n_positions=40)
    ref = transformers.GPT2LMHeadModel(cfg)
    ours = GPT(GPTConfig(vocab_size=101, block_size=40, n_layer=3, n_head=4, n_embd=64))
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_gpt_shapes_loss_and_causality(pos, backend):
    model = tiny_gpt(pos, attn_backend=backend).eval()
    assert type(model) is (Llama if pos == "rope" else GPT)
    idx = torch.randint(0, 37, (3, 12))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 12, 37) and loss.ndim == 0
    assert loss.item() == pytest.approx(F.cross_entropy(logits.flatten(0, 1), idx.flatten()).item(), rel=1e-6)
    changed = idx.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 37
    torch.testing.assert_close(model(changed)[0][:, :8], logits[:, :8])


@pytest.mark.parametrize("pos", POSITIONS)
def test_gpt_input_part_by_hand(pos):
    """The first block reads token vectors (× √d with the sinusoidal table, as in 2017) plus positions.
    Unscaled std-0.02 tokens beside that table stalled a GPT at 2 % exact match (docs/transformer.md)."""
    from minillm.nn.embeddings import sinusoidal_table

    model = tiny_gpt(pos).eval()
    d = model.config.n_embd
    idx = torch.randint(0, 37, (2, 10))
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model(idx)
    want = model.wte.weight[idx]  # (B, T, d)
    if pos == "sinusoidal":
        want = want * d**0.5 + sinusoidal_table(10, d)
    elif pos == "learned":
        want = want + model.wpe.weight[:10]
    torch.testing.assert_close(seen[0], want)


@pytest.mark.parametrize("backend", ["sdpa", "chunked"])
def test_gpt_backends_agree_on_logits_and_gradients(backend):
    torch.manual_seed(0)
    a = tiny_gpt(attn_backend="naive")
    b = tiny_gpt(attn_backend=backend)
    b.load_state_dict(a.state_dict())
    idx = torch.randint(0, 37, (2, 16))
    (la, loss_a), (lb, loss_b) = a(idx, idx), b(idx, idx)
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-5)
    loss_a.backward()
    loss_b.backward()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "cls,kw,match",
    [
        (GPTConfig, dict(n_embd=100, n_head=12), "n_embd=100 is not divisible by n_head=12"),
        (LlamaConfig, dict(n_embd=100, n_head=12), "n_embd=100 is not divisible by n_head=12"),
        (LlamaConfig, dict(activation="tanh"), "unknown activation"),
        (GPTConfig, dict(activation="tanh"), "unknown activation"),
        (GPTConfig, dict(activation="swiglu"), "unknown activation 'swiglu'"),  # the gated one is Llama's
        (GPTConfig, dict(pos_embedding="alibi"), "unknown pos_embedding"),
        (GPTConfig, dict(pos_embedding="rope"), r"unknown pos_embedding 'rope'; choose one of \('learned', 'sinusoidal'\)"),
        (GPTConfig, dict(n_layer=0), "n_layer must be a positive integer"),
        (LlamaConfig, dict(n_layer=0), "n_layer must be a positive integer"),
        (GPTConfig, dict(dropout=-0.1), "dropout"),
        (GPTConfig, dict(dropout=1.0), r"dropout must be in \[0, 1\)"),  # p = 1 would drop every weight
        (LlamaConfig, dict(dropout=-0.1), "dropout"),
        (GPTConfig, dict(attn_backend="flash"), "unknown attn_backend"),
        (LlamaConfig, dict(attn_backend="flash"), "unknown attn_backend"),
    ],
)
def test_gpt_config_validation(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(**kw)


@pytest.mark.parametrize("field", ["norm", "n_kv_head", "head_dim", "d_ff", "tie_embeddings", "window", "qk_norm"])
def test_gpt_config_has_only_gpt2_fields(field):
    """What later models made a field is GPT-2's fixed choice: not accepted, and (where a cost formula
    reads it) a read-only property."""
    with pytest.raises(TypeError, match=field):
        GPTConfig(**{field: 1})
    cfg = GPTConfig(n_embd=96, n_head=12)
    assert (cfg.head_dim, cfg.n_kv_head, cfg.d_ff) == (8, 12, 384)
    assert cfg.to_dict()["family"] == "gpt" and LlamaConfig().to_dict()["family"] == "llama"
    with pytest.raises(AttributeError):
        cfg.d_ff = 10
    with pytest.raises(TypeError, match="GPT expects a GPTConfig"):
        GPT(LlamaConfig(vocab_size=8, block_size=8, n_layer=1, n_head=2, n_embd=8, d_ff=8))
    with pytest.raises(TypeError, match="Llama expects a LlamaConfig"):
        Llama(cfg)


@pytest.mark.learning
def test_tiny_gpt_overfits_a_batch(seed, record_property):
    torch.manual_seed(seed)
    model = tiny_gpt(n_embd=64)
    idx = torch.randint(0, 37, (4, 16))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    record_property("below_0.1", float(0.1 - loss.item()))
    assert first > 3.3  # ≈ ln 37 = 3.61 at init
    assert loss.item() < 0.1  # at most 0.007 over default/avx2/avx512 x 1 thread x seeds 0-2


# -- blocks --
# One decoder block of each family: causal, and pre-norm (formerly tests/test_embeddings_ff_layers.py).


def _block(family: str):
    """One decoder block, 16 wide with 4 heads: GPT-2's (models/gpt.py) or the later family's (models/llama.py)."""
    from minillm.models.gpt import Block, GPTConfig
    from minillm.models.llama import LlamaBlock, LlamaConfig

    if family == "gpt":
        return Block(GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=4, n_embd=16))
    config = LlamaConfig(vocab_size=8, block_size=8, n_layer=1, n_head=4, n_embd=16, d_ff=64, bias=True)
    return LlamaBlock(config, RoPE(config.head_dim, config.block_size))


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_gpt_block_is_causal_and_pre_norm(family):
    block = _block(family).eval()
    x = torch.randn(1, 8, 16)
    y = x.clone()
    y[:, 5:] += 1.0
    torch.testing.assert_close(block(x)[:, :5], block(y)[:, :5])
    # Pre-norm: zeroing both sub-layers' output projections makes the block the identity.
    with torch.no_grad():
        for lin in (block.attn.out_proj, block.mlp.fc2):
            lin.weight.zero_()
            lin.bias.zero_()
    torch.testing.assert_close(block(x), x)


# -- the config reaches every layer --


def test_gpt_without_biases_has_no_bias_anywhere():
    """bias=False reaches Q/K/V, the output projection, both LayerNorms of each block, the feed-forward
    and ln_f; the output layer never has one (it is the tied token matrix)."""
    with_bias, without = tiny_gpt(bias=True), tiny_gpt(bias=False)
    biases = [n for n, _ in with_bias.named_parameters() if n.endswith("bias")]
    per_block = ["ln_1", "attn.qkv_proj", "attn.out_proj", "ln_2", "mlp.fc1", "mlp.fc2"]
    assert biases == [f"blocks.{i}.{m}.bias" for i in range(2) for m in per_block] + ["ln_f.bias"]
    assert [n for n, _ in without.named_parameters() if n.endswith("bias")] == []
    assert with_bias.lm_head.bias is None


def test_gpt_sinusoidal_table_is_a_buffer_not_saved_state():
    """The 2017 table is recomputed from the config, so a checkpoint does not carry it."""
    model = tiny_gpt("sinusoidal")
    assert "wpe_table" in dict(model.named_buffers())
    assert not any("wpe" in name for name in model.state_dict())


@pytest.mark.parametrize("backend", ["naive", "sdpa"])
def test_gpt_attention_dropout_runs_in_training_only(backend):
    torch.manual_seed(0)
    cfg = {"vocab_size": 8, "block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16, "attn_backend": backend}
    attn = CausalSelfAttention(GPTConfig(**cfg, dropout=0.5))
    plain = CausalSelfAttention(GPTConfig(**cfg)).eval()
    plain.load_state_dict(attn.state_dict())
    x = torch.randn(2, 6, 16)
    attn.eval()
    torch.testing.assert_close(attn(x), plain(x))  # eval: no dropout
    attn.train()
    a, b = attn(x), attn(x)
    assert not torch.allclose(a, plain(x), atol=1e-3)  # training: weights dropped ...
    assert not torch.allclose(a, b, atol=1e-3)  # ... at random


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_gpt_the_named_backend_is_the_kernel_that_runs(backend, monkeypatch):
    """Backend "naive" is the explicit softmax(QKᵀ/√d)V written in models/gpt.py (no kernel runs); any other
    name runs that kernel of minillm.kernels."""
    calls = []
    for name, kernel in list(BACKENDS.items()):

        def spy(*args, _name=name, _fn=kernel.fn, **options):
            calls.append(_name)
            return _fn(*args, **options)

        monkeypatch.setitem(BACKENDS, name, dataclasses.replace(kernel, fn=spy))
    config = GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=2, n_embd=16, attn_backend=backend)
    CausalSelfAttention(config).eval()(torch.randn(1, 4, 16))
    assert calls == ([] if backend == "naive" else [backend])


def test_gpt_forward_checks_its_kv_caches_before_any_work():
    """The caches count toward the context, there must be one per block, and a sliding cache would drop
    keys GPT-2 still attends to: each refused by name (not an IndexError or a silently wrong output)."""
    from minillm.nn.kv_cache import KVCache

    model = tiny_gpt().eval()  # block_size 16, 2 blocks
    caches = model.new_kv_caches()
    with torch.no_grad():
        model(torch.zeros(1, 16, dtype=torch.long), kv_caches=caches)
        with pytest.raises(ValueError, match=r"length 17 exceeds block_size=16 \(16 cached \+ 1 new\)"):
            model(torch.zeros(1, 1, dtype=torch.long), kv_caches=caches)
        with pytest.raises(ValueError, match="need one KV cache per block: got 1, have 2 blocks"):
            model(torch.zeros(1, 3, dtype=torch.long), kv_caches=[KVCache(16)])
        with pytest.raises(ValueError, match="drops keys"):
            model(torch.zeros(1, 3, dtype=torch.long), kv_caches=[KVCache(16, window=2) for _ in range(2)])


def test_gpt_naive_attention_builds_its_mask_on_the_inputs_device():
    """The explicit path's causal mask is made on the device of x (meta here: a mask left on the CPU
    would fail there as it would on a GPU)."""
    config = GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=2, n_embd=16, attn_backend="naive")
    with torch.device("meta"):
        attn = CausalSelfAttention(config)
    x = torch.zeros(2, 4, 16, device="meta")
    assert attn(x).shape == (2, 4, 16) and attn(x).device.type == "meta"
    padding = torch.ones(2, 1, 1, 4, dtype=torch.bool, device="meta")
    assert attn(x, mask=padding).device.type == "meta"
