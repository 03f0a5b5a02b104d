"""Grades ex13_tensor_parallel.py by hand-computed values and against minillm's unsplit feed-forward."""

import pytest
import torch
import torch.nn.functional as F
from _grader import call, expect, fail, load, shapes

from minillm.nn.feedforward import FeedForward

ex = load("ex13_tensor_parallel")

# d = 2, d_ff = 4, split over 2 ranks
X = torch.tensor([[1.0, 2.0]])
W1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])  # (d_ff, d)
B1 = torch.tensor([0.0, 0.0, 10.0, 20.0])
W2 = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])  # (d, d_ff)
B2 = torch.tensor([5.0, 5.0])


def column(x, w, b, rank, n):
    return call(f"column_parallel(x {shapes(x)}, weight {shapes(w)}, bias, rank={rank}, world_size={n})",
                ex.column_parallel, x, w, b, rank, n,
                hint="rank r holds output features r·d_ff/N … (r+1)·d_ff/N − 1, which are *rows* of the (d_ff, d) "
                     "weight: weight[rows], then x @ weight[rows].T")  # fmt: skip


def row(h, w, b, rank, n):
    return call(f"row_parallel(h {shapes(h)}, weight {shapes(w)}, bias, rank={rank}, world_size={n})",
                ex.row_parallel, h, w, b, rank, n,
                hint="rank r's h holds hidden units r·d_ff/N … (r+1)·d_ff/N − 1: take those *columns* of the "
                     "(d, d_ff) weight, weight[:, cols]")  # fmt: skip


def test_column_parallel_by_hand():
    # rank 1 holds fc1's rows 2 and 3: [1·1 + 2·1 + 10, 1·2 + 2·0 + 20] = [13, 22]
    want = torch.tensor([[13.0, 22.0]])
    mistakes = {
        "rank 1 returned rank 0's rows: rank r holds rows r·d_ff/N … (r+1)·d_ff/N − 1": X @ W1[:2].T + B1[:2],
        "the bias slice is missing: add bias[rows], the same rows as the weight": X @ W1[2:].T,
        "rows dealt round-robin (weight[rank::N]): each rank holds one contiguous block of rows":
            X @ W1[1::2].T + B1[1::2],
    }  # fmt: skip
    expect(column(X, W1, B1, 1, 2), want, "column_parallel(x, fc1, rank=1, world_size=2)", mistakes)
    expect(column(X, W1, B1, 0, 2), torch.tensor([[1.0, 2.0]]), "column_parallel(x, fc1, rank=0, world_size=2)")


def test_row_parallel_by_hand():
    h1 = torch.tensor([[13.0, 22.0]])  # rank 1's hidden units 2 and 3
    # columns 2 and 3 of fc2: [13 + 22, 22]; rank 1 adds no bias
    mistakes = {
        "every rank added the bias: the N partial sums are added, so the bias would count N times; "
        "only rank 0 adds it": torch.tensor([[40.0, 27.0]]),
        "rows of the weight taken instead of columns: rank r multiplies its hidden units by the "
        "columns r·d_ff/N … of the (d, d_ff) weight": h1 @ W2[:, :2].T,
    }
    expect(row(h1, W2, B2, 1, 2), torch.tensor([[35.0, 22.0]]), "row_parallel(h, fc2, rank=1, world_size=2)",
           mistakes)  # fmt: skip
    h0 = torch.tensor([[1.0, 2.0]])
    expect(row(h0, W2, B2, 0, 2), torch.tensor([[8.0, 7.0]]), "row_parallel(h, fc2, rank=0, world_size=2)",
           {"rank 0 must add the bias, once for the whole sum": torch.tensor([[3.0, 2.0]])})  # fmt: skip


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_matches_the_unsplit_feed_forward(world_size):
    torch.manual_seed(0)
    ff = FeedForward(8, 32, activation="gelu")  # minillm's feed-forward: fc1, GELU, fc2
    x = torch.randn(2, 3, 8)
    with torch.no_grad():
        want = ff(x)
        got = call(f"parallel_feed_forward(x {shapes(x)}, fc1, fc2, world_size={world_size}, F.gelu)",
                   ex.parallel_feed_forward, x, ff.fc1, ff.fc2, world_size, F.gelu)  # fmt: skip
        linear = ff.fc2(ff.fc1(x))
        mistakes = {
            "the activation was applied after adding the partial sums: GELU is not linear, so each rank "
            "applies it to its own hidden slice, before row_parallel": F.gelu(linear),
            "the activation is missing between column_parallel and row_parallel": linear,
            "the partial sums were averaged: the all-reduce adds them": (ff.fc2(F.gelu(ff.fc1(x))) - ff.fc2.bias)
            / world_size
            + ff.fc2.bias / world_size,
        }
        if world_size > 1:
            mistakes["fc2's bias was added by every rank: N times in the sum"] = want + (world_size - 1) * ff.fc2.bias
        expect(got, want, f"parallel_feed_forward over {world_size} ranks vs minillm's FeedForward", mistakes)


def test_bad_splits_are_refused():
    for args, why in [((X, W1, B1, 0, 3), "d_ff=4 over world_size=3"), ((X, W1, B1, 2, 2), "rank=2 of world_size=2")]:
        try:
            ex.column_parallel(*args)
        except ValueError:
            continue
        except NotImplementedError:
            fail("column_parallel: not written yet (replace `raise NotImplementedError`)")
        except Exception as error:  # noqa: BLE001 - the wrong kind of error is the mistake to name
            fail(f"column_parallel with {why} raised {type(error).__name__}, not ValueError: check the split first")
        fail(f"column_parallel with {why} returned without an error: raise ValueError before slicing")
