"""Copy the weights of PyTorch's ``nn.MultiheadAttention`` into minillm's ``MultiHeadAttention``.

The tests that compare the two (tests/nn/test_attention.py, tests/nn/test_layers.py) share this one
copy: torch stacks Q, K and V in ``in_proj_weight`` (or keeps three weights when the
key/value widths differ), minillm keeps ``q_proj``/``k_proj``/``v_proj``.
"""

import torch


def copy_from_torch(ref: torch.nn.MultiheadAttention, ours) -> None:
    d = ours.n_embd
    with torch.no_grad():
        if ref._qkv_same_embed_dim:
            wq, wk, wv = ref.in_proj_weight.split(d)
        else:
            wq, wk, wv = ref.q_proj_weight, ref.k_proj_weight, ref.v_proj_weight
        bq, bk, bv = ref.in_proj_bias.split(d)
        for lin, w, b in ((ours.q_proj, wq, bq), (ours.k_proj, wk, bk), (ours.v_proj, wv, bv)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        ours.out_proj.weight.copy_(ref.out_proj.weight)
        ours.out_proj.bias.copy_(ref.out_proj.bias)
