"""Beam search: exhaustive on a tiny vocabulary, greedy at one beam, cache = no cache, and errors."""

import itertools

import pytest
import torch

from minillm import GPT, GPTConfig, Transformer, TransformerConfig, beam_search, generate


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

    max_len, training = 8, False

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
        d_model=32,
        n_heads=4,
        n_encoder_layers=1,
        n_decoder_layers=1,
        d_ff=64,
        dropout=0.0,
        max_len=10,
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
    seq2seq = Transformer(TransformerConfig(11, 11, d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1))
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
