"""ex05 by a loop over each row's tokens, most likely first, in Python floats."""

import torch


def top_p_filter(logits, p):
    flat = logits.reshape(-1, logits.shape[-1])
    out = flat.clone()
    for row in range(flat.shape[0]):
        probs = torch.softmax(flat[row].double(), dim=-1).tolist()
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        mass = 0.0
        for rank, i in enumerate(order):
            if rank > 0 and mass >= p:
                out[row, i] = float("-inf")
            mass += probs[i]
        if p >= 1.0:
            out[row] = torch.where(torch.tensor(probs) > 0, flat[row], out[row])  # p = 1: nothing is cut
    return out.reshape(logits.shape)
