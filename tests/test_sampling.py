"""Temperature sampling draws from softmax(logits / T): measured frequencies at T = 0.5 and T = 2.

A statistical test with a fixed seed. N = 40,000 draws; every token's frequency must lie within
5 standard errors, 5·sqrt(p(1-p)/N) ≤ 0.0125, of its probability under softmax(logits / T).
For the wrong formula softmax(logits · T) a frequency moves by 0.44, over 35 times that
bound (checked in the test itself, so the test cannot lose its power by a change of logits).
"""

import pytest
import torch
from torch import nn

from minillm.decoding.generation import generate, sample_next

LOGITS = torch.tensor([2.0, 1.0, 0.5, -0.5, -2.0])
N = 40_000


def _bound(p: torch.Tensor) -> torch.Tensor:
    return 5 * (p * (1 - p) / N).sqrt()  # (V,) five standard errors of a frequency


def _frequencies(tokens: torch.Tensor) -> torch.Tensor:
    return torch.bincount(tokens, minlength=len(LOGITS)).double() / len(tokens)


def _check(tokens: torch.Tensor, temperature: float) -> None:
    expected = torch.softmax(LOGITS.double() / temperature, dim=-1)
    wrong = torch.softmax(LOGITS.double() * temperature, dim=-1)  # the bug this test exists for
    bound = _bound(expected)
    assert (wrong - expected).abs().max() > 20 * bound.max()  # the test can tell the two apart
    got = _frequencies(tokens)
    assert ((got - expected).abs() <= bound).all(), (temperature, got.tolist(), expected.tolist())


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_sample_next_frequencies_follow_softmax_of_logits_over_t(temperature):
    g = torch.Generator().manual_seed(0)
    tokens = sample_next(LOGITS.expand(N, -1), temperature=temperature, generator=g)  # (N,)
    _check(tokens, temperature)


class FixedLogits(nn.Module):
    """A 'model' whose next-token logits are LOGITS whatever the context: isolates generate()'s sampling."""

    max_len = 8

    def new_kv_caches(self):
        return None

    def decode_step(self, idx, _caches):
        return LOGITS.expand(idx.shape[0], idx.shape[1], -1)  # (B, T, V)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_generate_passes_the_temperature_through(temperature):
    g = torch.Generator().manual_seed(1)
    out = generate(FixedLogits(), torch.zeros(N, 1, dtype=torch.long), 1, temperature=temperature, generator=g)
    _check(out[:, 1], temperature)  # (N,) the one new token of each row
