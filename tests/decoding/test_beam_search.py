"""Beam search: exhaustive on a tiny vocabulary, greedy at one beam, cache = no cache, and errors."""

import itertools

import pytest
import torch

from minillm import GPT, GPTConfig, Transformer, TransformerConfig
from minillm.decoding.beam_search import beam_search
from minillm.decoding.generation import generate, left_pad
from minillm.nn.kv_cache import KVCache


def tiny_gpt(vocab=3, seed=0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=12, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():  # scale the random weights up so that the model has strong, context-dependent opinions
        for p in model.parameters():
            p.mul_(3)
    return model


def sequence_logprob(model, prompt, continuation):
    full = torch.tensor([prompt + continuation])
    logp = torch.log_softmax(model(full)[0][0].double(), dim=-1)
    return sum(logp[len(prompt) - 1 + i, tok].item() for i, tok in enumerate(continuation))


@pytest.mark.parametrize("seed", [2, 6, 8, 11])  # seeds where greedy misses the best sequence (checked below)
def test_enough_beams_find_the_most_probable_sequence(seed):
    model, prompt, n = tiny_gpt(seed=seed), [0, 1], 3
    best = max(itertools.product(range(3), repeat=n), key=lambda c: sequence_logprob(model, prompt, list(c)))
    greedy = generate(model, torch.tensor([prompt]), n, temperature=0.0)[0, len(prompt) :].tolist()
    assert greedy != list(best)  # so this test can tell beam search from greedy
    out = beam_search(model, torch.tensor([prompt]), n, num_beams=9)  # 9 = 3^(n-1): nothing is pruned
    assert out[0, len(prompt) :].tolist() == list(best)


@pytest.mark.parametrize("use_cache", [True, False])
def test_one_beam_is_greedy_and_cache_changes_nothing(use_cache):
    model = tiny_gpt(vocab=7, seed=4)
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    greedy = generate(model, prompt, 6, temperature=0.0, eos_id=0)
    assert torch.equal(beam_search(model, prompt, 6, num_beams=1, eos_id=0, use_cache=use_cache), greedy)
    cached = beam_search(model, prompt, 6, num_beams=3, eos_id=0, use_cache=True)
    assert torch.equal(beam_search(model, prompt, 6, num_beams=3, eos_id=0, use_cache=use_cache), cached)


class Toy:
    """A hand-built 'model' whose next-token distribution depends only on the last token: table[last]."""

    block_size, training = 8, False

    def __init__(self, table):
        self.logits = torch.log(torch.tensor(table) + 1e-12)

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def new_kv_caches(self):
        return None

    def decode_step(self, idx, _):
        return self.logits[idx[:, -1]][:, None, :]  # (B, 1, V)


def test_beam_beats_greedy_where_greedy_is_short_sighted():
    toy = Toy([[0.1, 0.5, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 1.0]])  # after 1: unsure; after 2: certain
    start = torch.tensor([[0]])
    assert generate(toy, start, 2, temperature=0.0, use_cache=False)[0].tolist() == [0, 1, 0]  # p = 0.5 · 1/3
    assert beam_search(toy, start, 2, num_beams=2, use_cache=False)[0].tolist() == [0, 2, 2]  # p = 0.4 · 1


def test_transformer_translate_with_beams():
    torch.manual_seed(0)
    cfg = TransformerConfig(
        11,
        11,
        n_embd=32,
        n_head=4,
        n_encoder_layers=1,
        n_decoder_layers=1,
        d_ff=64,
        dropout=0.0,
        block_size=10,
        pad_id=0,
    )
    model = Transformer(cfg).eval()
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    greedy = model.translate(src, 6, bos_id=1, eos_id=2)
    assert torch.equal(model.translate(src, 6, bos_id=1, eos_id=2, num_beams=1), greedy)
    beams = model.translate(src, 6, bos_id=1, eos_id=2, num_beams=4)
    assert beams.shape[0] == 2 and beams[:, 0].eq(1).all()
    single = model.translate(src[1:], 6, bos_id=1, eos_id=2, num_beams=4)  # rows do not leak into each other
    assert torch.equal(single[0], beams[1, : single.shape[1]])


def test_training_mode_comes_back_when_the_search_or_translation_raises():
    model = tiny_gpt().train()
    with pytest.raises(ValueError, match="token ids"):  # 7 is outside the 3-token vocabulary: the forward raises
        beam_search(model, torch.tensor([[0, 7]]), 2)
    assert model.training
    seq2seq = Transformer(TransformerConfig(11, 11, n_embd=16, n_head=2, n_encoder_layers=1, n_decoder_layers=1))
    seq2seq.train()
    with pytest.raises(ValueError, match="token ids"):
        seq2seq.translate(torch.tensor([[3, 40]]), 4, bos_id=1, num_beams=3)
    assert seq2seq.training
    for bad in (0, -2, True, 2.0):  # refused before the encoder runs, with beam_search's message
        with pytest.raises(ValueError, match="num_beams must be a positive integer"):
            seq2seq.translate(torch.tensor([[3, 4]]), 4, bos_id=1, num_beams=bad)
    assert seq2seq.training and all(m.training for m in seq2seq.modules())


def test_bad_input():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="num_beams"):
        beam_search(model, torch.tensor([[0]]), 2, num_beams=0)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        beam_search(model, torch.tensor([[0] * 10]), 5)
    with pytest.raises(TypeError, match="needs a model"):
        beam_search(object(), torch.tensor([[0]]), 2)


def test_finished_beams_keep_their_slot_and_length_penalty_favours_longer():
    toy = Toy([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.4, 0.0]])  # 0 = eos; from 2: eos 0.6, token 1 0.4
    start = torch.tensor([[2]])
    raw = beam_search(toy, start, 3, num_beams=2, eos_id=0, use_cache=False)
    assert raw[0].tolist() == [2, 0, 0, 0]  # log 0.6 beats log 0.4: stop at once, padded with eos
    longer = beam_search(toy, start, 3, num_beams=2, eos_id=0, length_penalty=2.0, use_cache=False)
    assert longer[0].tolist() == [2, 1, 1, 1]  # log 0.4 / 3² > log 0.6 / 1²


# -- edges: beam search and the generate loop --------------------------------------------------------
# KVCache, generate() and beam_search() at their edges (written against mutmut survivors, tests/MUTATION.md).
#
# The decoding tests use hand-built "models" whose next-token distribution is a table, so every
# expected token and score is written out by hand.
# -- KVCache
@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_cache_window_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="window must be None or an integer >= 1"):
        KVCache(8, window=bad)


def test_a_window_of_one_keeps_only_the_newest_position():
    cache = KVCache(8, window=1)
    assert cache.capacity == 1
    kv = torch.arange(3.0).view(1, 1, 3, 1)  # positions 0, 1, 2 hold the values 0, 1, 2
    k, v = cache.update(kv, kv)
    assert k.flatten().tolist() == v.flatten().tolist() == [0.0, 1.0, 2.0]  # the new queries see every new key
    k, _ = cache.update(kv[:, :, :1] + 10, kv[:, :, :1] + 10)
    assert k.flatten().tolist() == [2.0, 10.0]  # the one stored position, then the new one
    assert (cache.length, cache.stored) == (4, 1)


def test_repr_names_length_max_len_and_window():
    assert repr(KVCache(8)) == "KVCache(length=0, block_size=8)"
    cache = KVCache(8, window=4)
    cache.update(torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    assert repr(cache) == "KVCache(length=3, block_size=8, window=4)"


# ---------------------------------------------------------------- beam_search
class Counter:
    """A stand-in for one layer's KV cache: it only counts the positions it has seen."""

    def __init__(self):
        self.length = 0

    @property
    def stored(self) -> int:  # every position seen is held (no sliding window)
        return self.length

    def reset(self):
        self.length = 0

    def reorder(self, rows):
        pass


class Table:
    """A 'model' whose next-token distribution depends only on the last token: ``table[last]``.
    It records the shape of every input it is fed, and how many padding key columns its mask hides."""

    def __init__(self, table, block_size=8, device="cpu"):
        self.logits = torch.log(torch.tensor(table) + 1e-12).to(device)
        self.block_size, self.training, self.fed, self.pads, self.modes = block_size, False, [], [], []

    def eval(self):
        self.modes.append("eval")
        return self

    def train(self, mode=True):
        self.modes.append(mode)
        return self

    def new_kv_caches(self):
        return [Counter()]

    def decode_step(self, idx, caches, pos=None, mask=None):
        self.fed.append(tuple(idx.shape))
        self.pads.append(None if mask is None else (~mask[:, 0, 0]).sum(-1).tolist())  # mask: (B, 1, 1, T_k)
        if caches is not None:
            caches[0].length += idx.shape[1]
        return self.logits[idx[:, -1]][:, None, :]  # (B, 1, V)


UNSURE = [[0.25, 0.25, 0.25, 0.25]] * 4
EOS_OR_ONE = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.6, 0.4, 0.0]]  # 0 = eos; from 2: eos 0.6 or 1 (0.4); from 1: eos


def test_beam_search_defaults_to_four_beams_fed_one_token_a_step():
    model = Table(UNSURE)
    beam_search(model, torch.tensor([[0, 1]]), 3)
    assert model.fed == [(4, 2), (4, 1), (4, 1)]  # B · 4 beams; after the prompt, only the newest token
    model.fed.clear()
    beam_search(model, torch.tensor([[0, 1]]), 3, use_cache=False)
    assert model.fed == [(4, 2), (4, 3), (4, 4)]  # no cache: the whole sequence every step


def test_beam_search_stops_once_every_beam_has_finished():
    out = beam_search(Table(EOS_OR_ONE), torch.tensor([[2]]), 4, num_beams=2, eos_id=0, use_cache=False)
    # step 1: beams "2 0" (eos, log 0.6) and "2 1" (log 0.4); step 2: "2 1 0" finishes too -> stop
    assert out.tolist() == [[2, 0, 0]]


def test_beam_search_fills_the_context_exactly():
    model = Table(UNSURE, block_size=8)
    assert beam_search(model, torch.zeros(1, 5, dtype=torch.long), 3, num_beams=2).shape == (1, 8)
    with pytest.raises(ValueError, match="exceeds the model's context 8"):
        beam_search(model, torch.zeros(1, 5, dtype=torch.long), 4, num_beams=2)


@pytest.mark.parametrize("bad", [True, "1", float("nan"), float("inf")])
def test_length_penalty_must_be_a_finite_number(bad):
    with pytest.raises(ValueError, match="length_penalty must be a finite number"):
        beam_search(Table(UNSURE), torch.tensor([[0]]), 2, length_penalty=bad)


def test_beam_search_names_itself_in_the_model_check():
    with pytest.raises(TypeError, match=r"^beam_search\(\) needs a model with `block_size`"):
        beam_search(object(), torch.tensor([[0]]), 2)


def test_a_model_without_a_training_flag_is_left_in_eval_mode():
    model = Table(UNSURE)
    del model.training
    beam_search(model, torch.tensor([[0]]), 2, num_beams=2)
    assert model.modes == ["eval", False]


def test_beam_search_keeps_every_tensor_on_the_prompts_device():
    """The meta device stands in for an accelerator: a tensor made on the CPU meets the model's
    meta tensors and raises."""
    model = Table(UNSURE, device="meta")
    out = beam_search(model, torch.zeros(2, 1, dtype=torch.long, device="meta"), 2, num_beams=2, length_penalty=1.0)
    assert out.device.type == "meta" and out.shape == (2, 3)


def test_length_penalty_divides_by_length_to_its_power():
    table = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.7, 0.3, 0.0]]  # 0 = eos; from 2: eos 0.7 or 1 (0.3)
    # "2 0": log 0.7 = -0.357 over 1 token; "2 1 0": log 0.3 = -1.204 over 2 tokens (eos counts)
    run = lambda lp: beam_search(Table(table), torch.tensor([[2]]), 3, num_beams=2, eos_id=0, length_penalty=lp)
    assert run(0.0).tolist() == [[2, 0, 0]]  # raw: -0.357 > -1.204
    assert run(2.0).tolist() == [[2, 1, 0]]  # -1.204 / 2² = -0.301 > -0.357 / 1²


# ---------------------------------------------------------------- generate
FAVOURITE = [[0.5, 0.3, 0.2]] * 3  # the same distribution after every token


def test_generate_samples_at_temperature_one_with_the_cache_by_default():
    model = Table(FAVOURITE)
    out = generate(model, torch.zeros(64, 2, dtype=torch.long), 2, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(model.logits[0], dim=-1).expand(64, 3)  # temperature 1: the table itself
    want = torch.cat([torch.multinomial(probs, 1, generator=g), torch.multinomial(probs, 1, generator=g)], dim=1)
    assert torch.equal(out[:, 2:], want)
    assert model.fed == [(64, 2), (64, 1)]  # the prompt, then only the newest token
    model.fed.clear()
    generate(model, torch.zeros(64, 2, dtype=torch.long), 2, use_cache=False)
    assert model.fed == [(64, 2), (64, 3)]


def test_generate_passes_top_p_to_the_sampler():
    out = generate(Table(FAVOURITE), torch.zeros(64, 1, dtype=torch.long), 1, top_p=0.5)
    assert out[:, 1].eq(0).all()  # token 0 alone holds p = 0.5


@pytest.mark.parametrize("bad", [{"top_k": 0}, {"top_p": 1.5}])
def test_generate_checks_the_sampling_settings_before_the_model_runs(bad):
    model = Table(FAVOURITE)
    for n in (0, 2):
        with pytest.raises(ValueError, match="top_k|top_p"):
            generate(model, torch.zeros(1, 1, dtype=torch.long), n, **bad)
    assert model.fed == []


def test_zero_new_tokens_returns_the_prompt():
    model, idx = Table(FAVOURITE), torch.tensor([[1, 2]])
    assert torch.equal(generate(model, idx, 0), idx)
    assert torch.equal(beam_search(model, idx, 0, num_beams=2), idx)
    assert model.fed == []


def test_decoders_name_themselves_and_the_eos_range():
    with pytest.raises(TypeError, match=r"^generate\(\) needs a model with `block_size`"):
        generate(object(), torch.tensor([[0]]), 2)
    for decode in (generate, beam_search):  # Table has no vocab_size: any id >= 0
        with pytest.raises(ValueError, match=r"eos_id must be None or a token id in a token id >= 0, got -1"):
            decode(Table(FAVOURITE), torch.tensor([[0]]), 2, eos_id=-1)


def test_the_cache_starts_over_only_once_the_window_is_full():
    model = Table(FAVOURITE, block_size=4)
    generate(model, torch.zeros(1, 2, dtype=torch.long), 4)
    # 2 + 1 + 1 = 4 positions fill the cache; the 5th token needs the last 4 again
    assert model.fed == [(1, 2), (1, 1), (1, 1), (1, 4)]


@pytest.mark.parametrize("use_cache", [True, False])
def test_left_padding_shrinks_as_the_window_cuts_columns(use_cache):
    model = Table(FAVOURITE, block_size=4)
    idx, mask = left_pad([[1], [1, 1, 1]])  # paddings 2 and 0
    generate(model, idx, 3, attention_mask=mask, use_cache=use_cache)
    # widths 3, 4, 5: the last step sees the newest 4 columns, one padding column of row 0 cut off
    assert model.pads == [[2, 0], [2, 0], [1, 0]]


def test_left_pad_pads_with_zero_and_checks_pad_id():
    idx, mask = left_pad([[5], [6, 7]])
    assert idx.tolist() == [[0, 5], [6, 7]] and mask.tolist() == [[False, True], [True, True]]
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="pad_id must be a token id >= 0"):
            left_pad([[5]], pad_id=bad)


def test_a_bad_attention_mask_is_described():
    idx = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"shape \(1, 3\), got list"):
        generate(Table(FAVOURITE), idx, 1, attention_mask=[1, 1, 1])
    with pytest.raises(ValueError, match=r"shape \(1, 3\), got \(1, 2\)"):
        generate(Table(FAVOURITE), idx, 1, attention_mask=torch.ones(1, 2))


def test_an_empty_batch_is_refused_naming_its_shape():
    with pytest.raises(ValueError, match=r"empty batch: shape \(0, 3\) has B = 0 rows"):
        beam_search(tiny_gpt(), torch.zeros(0, 3, dtype=torch.long), 2)
