"""ex04 by loops over positions and columns with Python's math (the tutorial's exp-log form of the frequency)."""

import math

import torch


def sinusoidal_table(max_len, d_model):
    table = torch.empty(max_len, d_model)
    for pos in range(max_len):
        for j in range(d_model):
            angle = pos * math.exp(-(j - j % 2) * math.log(10000.0) / d_model)
            table[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return table
