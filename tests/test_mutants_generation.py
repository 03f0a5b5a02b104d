"""Sampling filters at their boundaries and on any number of leading dimensions.

Written against mutmut survivors (tests/MUTATION.md): test_generation.py checks 2-D logits away from
ties, so a filter working on the wrong axis, or `>` for `>=` at the nucleus boundary, passed it.
"""

import pytest
import torch

from minillm.decoding.generation import sample_next, top_k_filter, top_p_filter


def test_top_p_keeps_the_smallest_set_that_reaches_p_exactly():
    # Equal logits give exact probabilities 1/4: the mass before the k-th token is (k-1)/4 exactly.
    logits = torch.zeros(1, 4)
    assert int(torch.isfinite(top_p_filter(logits, 0.5)).sum()) == 2  # 1/4 + 1/4 reaches 0.5
    assert int(torch.isfinite(top_p_filter(logits, 0.75)).sum()) == 3
    assert int(torch.isfinite(top_p_filter(logits, 0.5000001)).sum()) == 3


def test_filters_work_on_the_last_axis_of_any_shape():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    row = probs.log()
    # 1-D: one distribution; 3-D: (B, T, V), each row filtered on its own
    assert torch.isfinite(top_p_filter(row, 0.7)).tolist() == [False, True, False, True]
    assert torch.isfinite(top_k_filter(row, 2)).tolist() == [False, True, False, True]
    rows = torch.stack([row, row.flip(0), row.roll(1)]).reshape(3, 1, 4).expand(3, 2, 4)  # (3, 2, V)
    for f in (lambda x: top_p_filter(x, 0.7), lambda x: top_k_filter(x, 2)):
        got = f(rows)
        want = torch.stack([f(r) for r in rows.reshape(6, 4)]).reshape(3, 2, 4)
        assert torch.equal(torch.isfinite(got), torch.isfinite(want))
        assert torch.equal(got[torch.isfinite(got)], rows[torch.isfinite(got)])  # kept logits unchanged


@pytest.mark.parametrize("kw", [{"top_k": 2.0}, {"temperature": float("nan")}])
def test_sampling_rejects_non_integer_top_k_and_nan_temperature(kw):
    with pytest.raises(ValueError):
        sample_next(torch.zeros(1, 4), **kw)


def test_sample_next_applies_top_p_and_defaults_to_temperature_one():
    logits = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log().expand(200, 4)
    g = torch.Generator().manual_seed(0)
    assert sample_next(logits, top_p=0.4, generator=g).eq(1).all()  # only the 0.5 token is in the nucleus
    assert set(sample_next(logits, top_p=0.7, generator=g).tolist()) == {1, 3}
    assert sample_next(logits, top_p=1.0, generator=g).shape == (200,)  # p = 1 keeps every token
    a = sample_next(logits, generator=torch.Generator().manual_seed(1))
    b = sample_next(logits, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
