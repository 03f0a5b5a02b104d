"""Bad input: types and shapes at the public boundary give one clean error, never a silent
wrong answer (an int mask added as numbers, a float id truncated, (B,) against (B, 1) broadcast to
B × B) and never a raw error from deep inside torch."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.decoding.beam_search import beam_search
from minillm.decoding.generation import generate
from minillm.kernels import attention
from minillm.models import GPT, GPTConfig, TransformerConfig
from minillm.rlhf.losses import dpo_loss, gae
from minillm.tokenizers import BPETokenizer, CharTokenizer
from minillm.train.config import TrainConfig

BACKENDS = ("naive", "chunked", "sdpa", "auto")
q = torch.randn(1, 2, 3, 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.float64, torch.float16])
def test_masks_must_be_bool_or_the_querys_float_dtype(backend, dtype):
    with pytest.raises(ValueError, match="mask must be bool .* float mask of the query's dtype torch.float32"):
        attention(q, q, q, mask=torch.ones(3, 3, dtype=dtype), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensor_types_are_checked(backend):
    with pytest.raises(ValueError, match="share a dtype"):
        attention(q.half(), q, q, backend=backend)
    with pytest.raises(ValueError, match="floating-point"):
        attention(q.long(), q.long(), q.long(), backend=backend)
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        attention(q.tolist(), q, q, backend=backend)
    with pytest.raises(TypeError, match="causal must be True or False"):
        attention(q, q, q, causal="yes", backend=backend)


@settings(max_examples=10)
@given(mask=st.lists(st.booleans(), min_size=9, max_size=9))
def test_a_float_mask_of_the_querys_dtype_equals_the_bool_mask(mask):
    allowed = torch.tensor(mask).view(3, 3)
    additive = torch.zeros(3, 3).masked_fill(~allowed, float("-inf"))
    for backend in ("naive", "chunked", "sdpa"):
        torch.testing.assert_close(
            attention(q, q, q, mask=additive, backend=backend), attention(q, q, q, mask=allowed, backend=backend)
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: GPTConfig(n_layer=True),
        lambda: GPTConfig(n_embd="128"),
        lambda: GPTConfig(n_head=2.0),
        lambda: TransformerConfig(10, 10, n_embd=8, n_head=True),
        lambda: TransformerConfig(10, 10, norm_first="no"),
        lambda: TrainConfig(batch_size="32"),
    ],
)
def test_configs_refuse_wrong_types_by_name(make):
    with pytest.raises(ValueError, match=r"is not a valid (int|bool)"):
        make()


def _gpt() -> GPT:
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"top_k": True}, "top_k"),
        ({"top_k": 2.0}, "top_k"),
        ({"temperature": "1"}, "temperature"),
        ({"max_new_tokens": True}, "max_new_tokens"),
        ({"max_new_tokens": 3.0}, "max_new_tokens"),
        ({"eos_id": 11}, r"eos_id must be None or a token id in \[0, 11\)"),
        ({"eos_id": -1}, "eos_id"),
        ({"eos_id": True}, "eos_id"),
        ({"eos_id": "a"}, "eos_id"),
    ],
)
def test_generate_arguments_are_checked(kw, match):
    kw = {"max_new_tokens": 3, **kw}
    with pytest.raises(ValueError, match=match):
        generate(_gpt(), torch.zeros(1, 2, dtype=torch.long), **kw)


@pytest.mark.parametrize("eos_id", [11, 99, -1, True])
def test_beam_search_checks_eos_like_generate(eos_id):
    with pytest.raises(ValueError, match="eos_id"):
        beam_search(_gpt(), torch.zeros(1, 2, dtype=torch.long), 3, eos_id=eos_id)


def test_token_ids_must_be_integer_tensors():
    model = _gpt()
    with pytest.raises(ValueError, match="idx must be a non-empty .* int64"):
        generate(model, torch.zeros(1, 2), 3)
    with pytest.raises(TypeError, match="idx must be"):
        generate(model, [[0, 1]], 3)
    with pytest.raises(TypeError, match="idx and targets must be tensors"):
        model([[0, 1]])
    with pytest.raises(ValueError, match="targets must be integer token ids"):
        model(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2))


@pytest.fixture(scope="module")
def tokenizers():
    return CharTokenizer.from_text("abc "), BPETokenizer.train("hello world hello", 270, special_tokens=["<eos>"])


@pytest.mark.parametrize("ids", [[0.5], [1.0], torch.tensor([0.0, 1.0]), "01", [True], [None], 3])
def test_decode_refuses_what_is_not_integer_ids(tokenizers, ids):
    for tok in tokenizers:
        with pytest.raises(TypeError, match="token ids must be"):
            tok.decode(ids)


@given(ids=st.lists(st.integers(-3, 300), max_size=8))
def test_decode_accepts_exactly_the_vocabulary(tokenizers, ids):
    for tok in tokenizers:
        if all(0 <= i < tok.vocab_size for i in ids):
            assert tok.decode(ids) == tok.decode(torch.tensor(ids, dtype=torch.long))
        else:
            with pytest.raises(ValueError, match="outside the vocabulary"):
                tok.decode(ids)


def test_encode_names_the_unknown_character(tokenizers):
    char, _ = tokenizers
    with pytest.raises(ValueError, match="'z' is not in the tokenizer's alphabet"):
        char.encode("abz")
    for tok in tokenizers:
        with pytest.raises(TypeError, match="encode expects a str"):
            tok.encode(b"ab")


def test_tokenizer_constructors_check_types():
    with pytest.raises(TypeError, match="string or a list"):
        CharTokenizer(5)
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer([1, 2])
    with pytest.raises(ValueError, match="special tokens must be distinct, non-empty strings"):
        BPETokenizer([], [5])
    with pytest.raises(TypeError, match="special_tokens must be a list"):
        BPETokenizer([], "<eos>")


def test_dpo_loss_refuses_shapes_that_would_broadcast():
    b = torch.zeros(3)
    with pytest.raises(ValueError, match=r"four \(B,\) tensors of one shape.*policy_rejected \(3, 1\)"):
        dpo_loss(b, b[:, None], b, b)
    with pytest.raises(ValueError, match=r"four \(B,\) tensors"):
        dpo_loss(*(torch.zeros(3, 2),) * 4)
    with pytest.raises(TypeError, match="policy_chosen must be a torch.Tensor"):
        dpo_loss([0.0], b, b, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_gae_mask_must_be_bool(dtype):
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        gae(z, z, torch.ones(2, 3, dtype=dtype))
    with pytest.raises(TypeError, match="rewards must be a torch.Tensor"):
        gae([[0.0]], z, torch.ones(2, 3, dtype=torch.bool))
