"""Grades ex04_sinusoidal.py against minillm and hand-computed values."""

import math

import torch
from _grader import expect, load

from minillm.nn.embeddings import sinusoidal_table

ex = load("ex04_sinusoidal")


def table(max_len: int, d: int, exponent, sin_first: bool = True) -> torch.Tensor:
    """A sin/cos table whose column j has frequency 10000^(-exponent(j)); the usual mistakes vary exponent."""
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    j = torch.arange(d, dtype=torch.float64)
    angle = pos * 10000.0 ** (-exponent(j))  # (max_len, d)
    even = (j % 2 == 0) == sin_first
    return torch.where(even, torch.sin(angle), torch.cos(angle)).float()


def mistakes(max_len: int, d: int) -> dict:
    pair = lambda j: 2 * torch.div(j, 2, rounding_mode="floor") / d
    return {
        "sin and cos are swapped: even columns 2i are sin, odd columns 2i+1 are cos": table(max_len, d, pair, False),
        "column 2i+1 has its own frequency: the sin and cos of one pair share 10000^(2i/d), "
        "do not use the column index (2i+1) in the exponent": table(max_len, d, lambda j: j / d),
        "the exponent is i/d, not 2i/d (i counts pairs of columns)": table(
            max_len, d, lambda j: torch.div(j, 2, rounding_mode="floor") / d
        ),
        "the exponent's sign: the angle is pos / 10000^(2i/d), not pos · 10000^(2i/d)": table(
            max_len, d, lambda j: -pair(j)
        ),
        "the table is not float32: build it in float64 if you like, return .float()": sinusoidal_table(
            max_len, d
        ).double(),
    }


def test_hand_values():
    t = ex.sinusoidal_table(3, 4)
    expected = [
        [0, 1, 0, 1],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
        [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)],
    ]
    expect(t, torch.tensor(expected, dtype=torch.float32), "sinusoidal_table(3, 4)", mistakes(3, 4))
    assert t.dtype == torch.float32, f"return float32, got {t.dtype}"


def test_matches_minillm_even_and_odd():
    for d in (8, 7, 64):
        hint = " (d_model is odd: the last column is a sin, there is no cos after it)" if d % 2 else ""
        expect(ex.sinusoidal_table(50, d), sinusoidal_table(50, d), f"sinusoidal_table(50, {d}){hint}", mistakes(50, d))
