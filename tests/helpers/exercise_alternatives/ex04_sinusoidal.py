"""ex04 by loops over positions and columns with Python's math (the tutorial's exp-log form of the frequency)."""

import math

import torch


def sinusoidal_table(block_size, n_embd):
    table = torch.empty(block_size, n_embd)
    for pos in range(block_size):
        for j in range(n_embd):
            angle = pos * math.exp(-(j - j % 2) * math.log(10000.0) / n_embd)
            table[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return table
