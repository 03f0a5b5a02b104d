"""Grades ex05_top_p.py against minillm and hand-computed values."""

import torch
from _grader import expect, load

from minillm.decoding.generation import top_p_filter

ex = load("ex05_top_p")


def kept(logits: torch.Tensor) -> torch.Tensor:
    return ~torch.isinf(logits)


def mistakes(logits: torch.Tensor, p: float) -> dict:
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    cum = sorted_probs.cumsum(-1)

    def keep_sorted(keep_in_order):  # a keep-mask given in sorted order, moved back to the token positions
        return torch.zeros_like(keep_in_order).scatter(-1, order, keep_in_order)

    asc_probs, asc_order = probs.sort(dim=-1)
    return {
        "the token that crosses p was dropped: keep a token while the mass of the tokens *before* it is < p "
        "(cumsum - p_i < p), so the set reaches p": keep_sorted(cum < p),
        "sorted ascending: the nucleus is the *most* likely tokens (sort descending)": torch.zeros_like(
            cum < p
        ).scatter(-1, asc_order, asc_probs.cumsum(-1) - asc_probs < p),
        "the keep-mask was left in sorted order: scatter it back to the original token positions": (
            cum - sorted_probs < p
        ),
    }


def test_hand_example():
    logits = torch.log(torch.tensor([0.1, 0.5, 0.3, 0.1]))
    out = ex.top_p_filter(logits, 0.7)  # 0.5 + 0.3 >= 0.7: keep tokens 1 and 2
    expect(kept(out), torch.tensor([False, True, True, False]), "the kept tokens for p = 0.7", mistakes(logits, 0.7))
    expect(out[[1, 2]], logits[[1, 2]], "the kept logits (leave them unchanged; do not return probabilities)")
    expect(
        kept(ex.top_p_filter(logits, 0.01)),
        torch.tensor([False, True, False, False]),
        "the kept tokens for p = 0.01 (the most likely token always stays)",
        mistakes(logits, 0.01),
    )


def test_matches_minillm():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 50, generator=g) * 3
    for p in (0.1, 0.5, 0.9, 1.0):
        out = ex.top_p_filter(logits, p)
        expect(kept(out), kept(top_p_filter(logits, p)), f"the kept tokens for p = {p}", mistakes(logits, p))
        expect(out[kept(out)], logits[kept(out)], "the kept logits (leave them unchanged)")
