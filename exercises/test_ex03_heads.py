"""Grades ex03_heads.py against minillm's multi-head attention and hand-computed values."""

import torch
from _grader import call, expect, fail, load, shapes
from einops import rearrange  # the pattern minillm/nn/attention.py splits heads with

from minillm import MultiHeadAttention

ex = load("ex03_heads")


def split_mistakes(x: torch.Tensor, h: int) -> dict:
    b, t, d = x.shape
    return {
        "reshaped straight to (B, h, T, d/h): that mixes positions into heads. View as (B, T, h, d/h), "
        "then swap T and h with transpose(1, 2)": x.reshape(b, h, t, d // h),
        "channels went to heads round-robin (view as (B, T, d/h, h)): head i takes the contiguous channels "
        "[i·d/h, (i+1)·d/h)": x.view(b, t, d // h, h).permute(0, 3, 1, 2),
        "the heads were not moved in front of T: return (B, h, T, d/h), not (B, T, h, d/h)": x.view(b, t, h, d // h),
    }


def merge_mistakes(heads: torch.Tensor) -> dict:
    b, h, t, hd = heads.shape
    return {
        "merged without moving the heads back: transpose (B, h, T, d/h) to (B, T, h, d/h) before flattening the "
        "last two dimensions": heads.reshape(b, t, h * hd),
    }


def split(x, n_head):
    return call(f"split_heads(x {shapes(x)}, n_head={n_head})", ex.split_heads, x, n_head)


def merge(heads):
    return call(
        f"merge_heads(x {shapes(heads)})",
        ex.merge_heads,
        heads,
        hint="after transpose(1, 2) the tensor is no longer contiguous in memory, so .view cannot flatten it: "
        "use .reshape, or .contiguous().view",
    )


def test_hand_values():
    x = torch.arange(12.0).view(1, 1, 12)  # one token, d = 12, three heads of 4 channels each
    want = torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]).view(1, 3, 1, 4)
    expect(split(x, 3), want, "split_heads(arange(12), 3)", split_mistakes(x, 3))


def test_split_and_merge_match_minillm_attention():
    # minillm's MultiHeadAttention, rebuilt from your split and merge around its own projections
    torch.manual_seed(0)
    mha = MultiHeadAttention(n_embd=12, n_head=3).eval()
    x = torch.randn(2, 5, 12)
    heads = split(x, 3)
    expect(heads, rearrange(x, "b t (h d) -> b h t d", h=3), "split_heads", split_mistakes(x, 3))
    expect(merge(heads), x, "merge_heads(split_heads(x))", merge_mistakes(heads))
    with torch.no_grad():
        q, k, v = (split(proj(x), 3) for proj in (mha.q_proj, mha.k_proj, mha.v_proj))  # (B, 3, T, 4)
        out = mha.out_proj(merge(torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1) @ v))  # √(12/3) = 2
        expect(out, mha(x), "minillm's attention rebuilt from your split_heads and merge_heads")


def test_bad_head_count():
    x = torch.randn(1, 2, 10)
    try:
        ex.split_heads(x, 3)
    except ValueError:
        return
    except NotImplementedError:
        fail("split_heads(x (1, 2, 10), n_head=3): not written yet (replace `raise NotImplementedError`)")
    except Exception as error:  # noqa: BLE001 - the wrong kind of error is the mistake to name
        fail(
            f"split_heads(x (1, 2, 10), n_head=3) raised {type(error).__name__}, not ValueError. Likely mistake: "
            "no divisibility check. Test d % n_head and raise ValueError (naming d and n_head) before reshaping"
            + (": an assert is not a ValueError" if isinstance(error, AssertionError) else "")
        )
    fail(
        "split_heads(x (1, 2, 10), n_head=3) returned without an error. Likely mistake: no divisibility check; "
        "10 channels cannot split into 3 equal heads: raise ValueError"
    )
