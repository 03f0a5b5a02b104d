"""Grades ex04_sinusoidal.py against minillm and hand-computed values."""

import math

import torch
from _grader import load

from minillm.nn.embeddings import sinusoidal_table

ex = load("ex04_sinusoidal")


def test_hand_values():
    t = ex.sinusoidal_table(3, 4)
    assert t.dtype == torch.float32 and t.shape == (3, 4)
    expected = [
        [0, 1, 0, 1],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
        [math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)],
    ]
    torch.testing.assert_close(t, torch.tensor(expected, dtype=torch.float32))


def test_matches_minillm_even_and_odd():
    for d in (8, 7, 64):
        torch.testing.assert_close(ex.sinusoidal_table(50, d), sinusoidal_table(50, d))
