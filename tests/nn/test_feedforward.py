"""FeedForward: every activation against the formula written by hand, and a bad activation refused by name."""

import math

import pytest
import torch

from minillm.nn import FeedForward


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh", "swiglu"])
def test_feedforward_by_hand(activation):
    ff = FeedForward(6, 10, activation=activation).eval()
    x = torch.randn(2, 3, 6)
    h = x @ ff.fc1.weight.T + ff.fc1.bias
    act = {
        "relu": torch.relu(h),
        "gelu": 0.5 * h * (1 + torch.erf(h / math.sqrt(2))),
        "gelu_tanh": 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3))),
        "swiglu": None,
    }[activation]
    if activation == "swiglu":
        act = h * torch.sigmoid(h) * (x @ ff.gate.weight.T + ff.gate.bias)
    torch.testing.assert_close(ff(x), act @ ff.fc2.weight.T + ff.fc2.bias, atol=1e-5, rtol=1e-5)


def test_feedforward_bad_activation():
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        FeedForward(4, 8, activation="tanh")
