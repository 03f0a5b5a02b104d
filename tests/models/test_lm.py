"""What every decoder shares (minillm/models/lm.py), checked on GPT and Llama: the input checks at
forward (check_tokens), and the next-token loss that ignores -100 targets (next_token_loss)."""

import pytest
import torch
import torch.nn.functional as F
from helpers.decoders import decoder

from minillm import GPT
from minillm.models import Llama


def tiny_gpt(pos="learned", **kw) -> GPT | Llama:
    """A GPT with learned or sinusoidal positions, or a GPT-2-like Llama for "rope"."""
    return decoder(pos, **{**dict(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=32), **kw})


def test_gpt_ignores_minus_100_targets():
    model = tiny_gpt().eval()
    idx = torch.randint(0, 37, (2, 8))
    targets = idx.clone()
    targets[:, :5] = -100
    logits, loss = model(idx, targets)
    want = F.cross_entropy(logits[:, 5:].flatten(0, 1), idx[:, 5:].flatten())
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


@pytest.mark.parametrize("pos", ["learned", "rope"])  # GPT and Llama
def test_gpt_rejects_bad_input(pos):
    model = tiny_gpt(pos)
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(17, dtype=torch.long))
    with pytest.raises(ValueError, match="targets shape"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"vocabulary \[0, 37\), got 37"):
        model(torch.full((1, 4), 37))
    with pytest.raises(ValueError, match=r"vocabulary \[0, 37\), got 40"):  # names the id
        model(torch.tensor([[1, 40, 2]]))
    with pytest.raises(TypeError, match="positional"):  # kv_caches is keyword-only
        model(torch.zeros(1, 4, dtype=torch.long), None, model.new_kv_caches())
