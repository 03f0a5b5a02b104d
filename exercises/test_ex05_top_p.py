"""Grades ex05_top_p.py against hand-computed values and a float64 reference of the nucleus
(the rule of minillm/decoding/generation.py's top_p_filter).

A token belongs to the nucleus when the probability mass of the tokens more likely than it is < p.
Where that mass lies within 1e-6 of p, float32 and float64 sums may honestly disagree, so either
answer is accepted there; everywhere else the kept set must be exact.
"""

import torch
from _grader import call, expect, fail, load, shapes

ex = load("ex05_top_p")

P_ONE = (
    "p = 1 must keep every token (only the whole vocabulary has mass 1); yours dropped {n} of {v} tokens that "
    "have non-zero probability. A float32 running sum of the sorted probabilities reaches 1.0 before the last "
    "tiny ones: accumulate in float64 (softmax(logits.double())), or sum the mass from the least likely token up"
)


def kept(logits: torch.Tensor) -> torch.Tensor:
    return ~torch.isinf(logits)


def mass_before(logits: torch.Tensor) -> torch.Tensor:
    """float64 mass of the tokens more likely than each token, in vocabulary order."""
    probs = logits.double().softmax(-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs.cumsum(-1) - sorted_probs)


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
        "the cumulative sum was taken without sorting: the nucleus is the *most likely* tokens, so sort the "
        "probabilities in descending order before the cumsum (and scatter the mask back)": (
            probs.cumsum(-1) - probs < p
        ),
        "sorted ascending: the nucleus is the *most* likely tokens (sort descending)": torch.zeros_like(
            cum < p
        ).scatter(-1, asc_order, asc_probs.cumsum(-1) - asc_probs < p),
        "the keep-mask was left in sorted order: scatter it back to the original token positions": (
            cum - sorted_probs < p
        ),
        "the cumsum ran over the logits, not the probabilities: softmax first": keep_sorted(
            logits.sort(dim=-1, descending=True).values.cumsum(-1) - logits.sort(dim=-1, descending=True).values < p
        ),
    }


def top_p(logits, p):
    out = call(f"top_p_filter(logits {shapes(logits)}, p={p})", ex.top_p_filter, logits, p)
    if not isinstance(out, torch.Tensor) or out.shape != logits.shape:
        fail(f"top_p_filter(logits {shapes(logits)}, p={p}): return logits of the same shape, got {shapes(out)}")
    return out


def check_kept(logits: torch.Tensor, p: float, what: str) -> torch.Tensor:
    """Your kept set against the float64 nucleus; near-ties with p (within 1e-6) may go either way."""
    out = top_p(logits, p)
    got, before = kept(out), mass_before(logits)
    must_keep, must_drop = before < p - 1e-6, before >= p + 1e-6
    if bool((got | ~must_keep).all() and (~got | ~must_drop).all()):
        expect(out[got], logits[got], f"{what}: the kept logits (leave them unchanged; do not return probabilities)")
        return out
    for hint, wrong in mistakes(logits, p).items():
        if torch.equal(got, wrong):
            fail(f"{what}: wrong. Likely mistake: {hint}")
    bad = (~got & must_keep) | (got & must_drop)
    i = tuple(int(j) for j in bad.nonzero()[0])
    prob = logits.double().softmax(-1)[i].item()
    verdict = "dropped, but belongs" if must_keep[i] else "kept, but does not belong"
    fail(
        f"{what}: wrong. Token {i} (probability {prob:.4g}; the tokens more likely than it hold {before[i].item():.6g}) "
        f"was {verdict} to the nucleus: keep exactly the tokens whose more likely tokens hold < p"
    )


def test_hand_example():
    logits = torch.log(torch.tensor([0.1, 0.5, 0.3, 0.1]))
    out = top_p(logits, 0.7)  # 0.5 + 0.3 >= 0.7: keep tokens 1 and 2
    expect(kept(out), torch.tensor([False, True, True, False]), "the kept tokens for p = 0.7", mistakes(logits, 0.7))
    expect(
        out[[1, 2]],
        logits[[1, 2]],
        "the kept logits",
        {
            "probabilities were returned: leave the kept logits unchanged and set the others to -inf": logits.softmax(
                -1
            )[[1, 2]],
            "log-probabilities were returned: leave the kept logits unchanged (no log_softmax)": logits.log_softmax(-1)[
                [1, 2]
            ],
        },
    )
    expect(
        kept(top_p(logits, 0.01)),
        torch.tensor([False, True, False, False]),
        "the kept tokens for p = 0.01 (the most likely token always stays)",
        mistakes(logits, 0.01),
    )


def test_a_set_that_reaches_p_exactly_is_enough():
    logits = torch.zeros(4)  # four tokens of probability 1/4 exactly: two of them hold 0.5 exactly
    expect(
        int(kept(top_p(logits, 0.5)).sum()),
        2,
        "the number of tokens kept for p = 0.5 from four tokens of 1/4",
        {
            "a set whose mass equals p exactly is enough: drop a token when the mass before it is >= p, not > p": 3,
        },
    )


def test_p_one_keeps_every_token():
    # one likely token and 599 tiny ones (down to e^-70 of it): all of them have non-zero probability
    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.tensor([30.0]), torch.linspace(-40.0, 5.0, 599)[torch.randperm(599, generator=g)]])
    got = kept(top_p(logits, 1.0))
    if not bool(got.all()):
        fail("top_p_filter(logits (600,), p=1.0): wrong. Likely mistake: " + P_ONE.format(n=int((~got).sum()), v=600))


def test_matches_a_float64_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 50, generator=g) * 3
    for p in (0.1, 0.5, 0.9, 1.0):
        check_kept(logits, p, f"the kept tokens of (4, 3, 50) logits for p = {p}")
