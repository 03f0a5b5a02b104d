"""Example 11: the decoder-only branch sees "src <eos> <bos> answer <eos>" with the loss on the answer
only, both branches get the same parameter budget, and the quick run learns in both (exact match, not
just a falling loss)."""

import math
import runpy
from pathlib import Path

import pytest
import torch

from minillm.data.tasks import BOS, EOS, PAD, DigitTask, make_digit_batch

ROOT = Path(__file__).resolve().parents[2]
EX = runpy.run_path(str(ROOT / "examples" / "11_two_branches.py"), run_name="example")
D = lambda *digits: [x + 3 for x in digits]


def test_one_sequence_by_hand():
    src = torch.tensor([D(3, 1, 4) + [EOS], D(7) + [EOS, PAD, PAD]])
    tgt = torch.tensor([[BOS, *D(4, 1, 3), EOS], [BOS, *D(7), EOS, PAD, PAD]])
    seq, labels = EX["one_sequence"](src, tgt)
    ign = EX["IGNORE"]
    assert seq.tolist() == [
        [*D(3, 1, 4), EOS, BOS, *D(4, 1, 3), EOS][:8],
        [*D(7), EOS, BOS, *D(7), EOS, PAD, PAD, PAD],
    ]
    # position p is labelled with token p + 1 only where that token belongs to the answer (or its <eos>)
    assert labels.tolist() == [
        [ign, ign, ign, ign, *D(4, 1, 3), EOS][:8],
        [ign, ign, *D(7), EOS, ign, ign, ign, ign],
    ]


def test_one_sequence_labels_are_the_next_tokens_of_the_target():
    task = DigitTask("sort", 1, 6)
    src, tgt = make_digit_batch(task, 16, torch.Generator().manual_seed(0))
    seq, labels = EX["one_sequence"](src, tgt)
    kept = labels != EX["IGNORE"]
    inner = kept[:, :-1]  # where the next input token is visible in seq
    assert torch.equal(labels[:, :-1][inner], seq[:, 1:][inner])  # a kept label is the next input token
    for row in range(16):  # the kept labels are exactly the answer and its <eos>, in order
        assert labels[row][kept[row]].tolist() == tgt[row][tgt[row] != PAD][1:].tolist()
    assert kept.sum(1).tolist() == ((tgt != PAD).sum(1) - 1).tolist()  # answer digits + <eos>, no <bos>


def test_same_parameter_budget():
    task = DigitTask("reverse", 1, 12)
    enc_dec = EX["encoder_decoder"](task, d=128, heads=4, layers=2, d_ff=512)
    gpt = EX["decoder_only"](task, d=128, heads=4, d_ff=512, budget=enc_dec.num_parameters())
    assert abs(gpt.num_parameters() - enc_dec.num_parameters()) / enc_dec.num_parameters() < 0.1
    assert gpt.config.n_layer == 5  # 2 + 2 encoder-decoder layers ≈ 5 GPT blocks (cross-attention costs)


@pytest.mark.learning
@pytest.mark.slow
def test_quick_run_learns_in_both_branches(seed, record_property):
    figures = EX["main"](["--quick", "--seed", str(seed)])
    assert set(figures) == {"encoder-decoder", "decoder-only GPT"}
    # Exact match over default/avx2/avx512 x 1 and 2 threads x seeds 0-2: decoder-only 100 % in every cell,
    # encoder-decoder at least 96 % (floor 80 %: margin 16 points); final loss at most 0.034 (floor 0.256; measured at
    # 2 threads under default and avx2). An untrained model scores ~0 % (chance is 1 in 10**length) and a model that
    # learned only the lengths and <eos> still gets ~1.7 nats per digit.
    for name, f in figures.items():
        record_property(f"{name} exact_match", float(f["exact_match"]))
        record_property(f"{name} below_final_loss_floor", float(0.1 * math.log(13) - f["final_loss"]))
        assert f["exact_match"] >= 0.8, (name, f)
        assert f["final_loss"] < 0.1 * math.log(13), (name, f)  # ln(vocab) at random init


def test_gpt_branch_uses_learned_positions():
    """Each branch keeps its own paper's input part: GPT-2's learned positions, at the token vectors'
    scale. (Unscaled std-0.02 tokens beside the sinusoidal table stalled the GPT at 2 % exact match;
    GPT now scales its tokens by √d with that table, tests/models/test_gpt.py::test_gpt_input_part_by_hand.)"""
    task = DigitTask("reverse", 1, 4)
    gpt = EX["decoder_only"](task, d=128, heads=4, d_ff=512, budget=10**6)
    assert gpt.config.pos_embedding == "learned"
    tokens = gpt.wte.weight.norm(dim=1).mean()
    assert tokens < 0.5 and gpt.wpe.weight.norm(dim=1).mean() < 0.5  # the same scale, both trained
