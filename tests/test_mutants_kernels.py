"""Input checks at the kernels' own entry points (written against mutmut survivors, tests/MUTATION.md).

The dispatcher `attention()` validates before any kernel runs, so a kernel that forgot to pass an
argument to the shared check passed the dispatcher's tests; here each public kernel is called directly.
"""

import pytest
import torch

from minillm.kernels.masks import padding_mask
from minillm.kernels.naive import scaled_dot_product_attention


@pytest.mark.parametrize("dropout_p", [1.0, -0.1])
def test_naive_kernel_checks_dropout_itself(dropout_p):
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, q, q, dropout_p=dropout_p)


@pytest.mark.parametrize("tokens", [[[5, 0]], torch.tensor([5, 0]), torch.zeros(1, 2, 3, dtype=torch.long)])
def test_padding_mask_wants_a_2d_tensor(tokens):
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        padding_mask(tokens, pad_id=0)
