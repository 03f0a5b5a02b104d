"""The small training loop (minillm/train/loop.py, ``train_lm``): it learns, and refuses a run of no steps."""

import pytest
import torch

from minillm.train import train_lm


@pytest.mark.learning
def test_train_lm_reduces_loss_and_validates(seed, record_property):
    from minillm import GPT, GPTConfig

    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=16))
    x = torch.randint(0, 10, (4, 8))
    losses = train_lm(model, lambda: (x, x), steps=60, lr=1e-2)
    record_property("fraction_left_below_0.5", float(0.5 - losses[-1] / losses[0]))
    assert losses[-1] < 0.5 * losses[0]  # at most 0.014 x the first: default/avx2/avx512, 1 thread, seeds 0-2
    with pytest.raises(ValueError, match="steps"):
        train_lm(model, lambda: (x, x), steps=0)
