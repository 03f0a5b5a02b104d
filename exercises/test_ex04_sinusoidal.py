"""Grades ex04_sinusoidal.py against minillm and hand-computed values."""

import math

import torch
from _grader import call, expect, fail, load

from minillm.nn.embeddings import sinusoidal_table

ex = load("ex04_sinusoidal")


def table(block_size: int, d: int, exponent, sin_first: bool = True) -> torch.Tensor:
    """A sin/cos table whose column j has frequency 10000^(-exponent(j)); the usual mistakes vary exponent."""
    pos = torch.arange(block_size, dtype=torch.float64)[:, None]  # (block_size, 1)
    j = torch.arange(d, dtype=torch.float64)
    angle = pos * 10000.0 ** (-exponent(j))  # (block_size, d)
    even = (j % 2 == 0) == sin_first
    return torch.where(even, torch.sin(angle), torch.cos(angle)).float()


def mistakes(block_size: int, d: int) -> dict:
    pair = lambda j: 2 * torch.div(j, 2, rounding_mode="floor") / d
    return {
        "sin and cos are swapped: even columns 2i are sin, odd columns 2i+1 are cos": table(block_size, d, pair, False),
        "column 2i+1 has its own frequency: the sin and cos of one pair share 10000^(2i/d), "
        "do not use the column index (2i+1) in the exponent": table(block_size, d, lambda j: j / d),
        "the exponent is i/d, not 2i/d (i counts pairs of columns)": table(
            block_size, d, lambda j: torch.div(j, 2, rounding_mode="floor") / d
        ),
        "the exponent's sign: the angle is pos / 10000^(2i/d), not pos · 10000^(2i/d)": table(
            block_size, d, lambda j: -pair(j)
        ),
        "the sin and cos halves were concatenated ([sin …, cos …], as in tensor2tensor): here they interleave, "
        "sin in the even columns 2i and cos in the odd columns 2i+1": halves(block_size, d),
        "the positions start at 1: row pos = 0 is the first position (sin 0 = 0, cos 0 = 1)": table(
            block_size + 1, d, pair
        )[1:],
        "the table is not float32: build it in float64 if you like, return .float()": sinusoidal_table(
            block_size, d
        ).double(),
    }


def halves(block_size: int, d: int) -> torch.Tensor:
    """[sin(pos·f_0), …, sin(pos·f_{n-1}), cos(pos·f_0), …]: the other common layout, not this exercise's."""
    pos = torch.arange(block_size, dtype=torch.float64)[:, None]  # (block_size, 1)
    freq = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (ceil(d/2),)
    return torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=-1)[:, :d].float()


def pe(block_size: int, d: int):
    hint = (
        f"n_embd = {d} is odd, so there are {(d + 1) // 2} even columns (sin) but only {d // 2} odd ones (cos): "
        f"keep the first {d // 2} cos columns, e.g. torch.cos(angle)[:, : n_embd // 2]"
        if d % 2
        else "the sin/cos columns and the angles must have the same shape: (block_size, n_embd / 2) each"
    )
    return call(f"sinusoidal_table({block_size}, {d})", ex.sinusoidal_table, block_size, d, hint=hint)


def test_hand_values():
    t = pe(3, 4)
    expected = [
        [0, 1, 0, 1],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
        [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)],
    ]
    expect(t, torch.tensor(expected, dtype=torch.float32), "sinusoidal_table(3, 4)", mistakes(3, 4))
    if t.dtype != torch.float32:
        fail(f"sinusoidal_table(3, 4): the table is not float32 but {t.dtype}: build it as you like, return .float()")


def test_matches_minillm_even_and_odd():
    for d in (8, 7, 64):
        hint = " (n_embd is odd: the last column is a sin, there is no cos after it)" if d % 2 else ""
        expect(pe(50, d), sinusoidal_table(50, d), f"sinusoidal_table(50, {d}){hint}", mistakes(50, d))
