"""Mixture-of-experts feed-forward: many feed-forward networks, each token uses only k of them.

Report §3.2 names more efficient architectures, mixture-of-experts (混合专家) first, as the way
past the cost of ever larger dense models. A dense block runs every parameter for every token;
an MoE block holds E feed-forward "experts" and a router that sends each token to k of them, so
the parameters grow E-fold while the compute per token grows only k-fold (Shazeer et al. 2017;
Switch Transformer, Fedus et al. 2022; Mixtral, Jiang et al. 2024; Qwen3-MoE). For a token x:

    p        = softmax(x W_router)                       (E,) router probabilities
    S        = the k experts with the largest p           top-k
    g_e      = p_e / Σ_{j∈S} p_j    (or p_e unnormalised) gate of each chosen expert
    MoE(x)   = Σ_{e∈S} g_e · FFN_e(x)  [+ FFN_shared(x)]

A router left alone sends most tokens to a few experts (the rich get richer). The load-balancing
auxiliary loss of the Switch Transformer (Fedus et al. 2022, eq. 4), in the top-k form
transformers' Mixtral/Qwen-MoE ``load_balancing_loss_func`` computes, pushes towards balance:

    aux = E · Σ_e f_e · P_e,   f_e = share of the T tokens that picked e among their top k
                               P_e = mean router probability of e over the T tokens

f_e counts (no gradient); P_e carries the gradient to the router. With a perfectly uniform
router aux = k, its minimum; the model adds ``aux_loss_coef · aux`` to the language-model loss.
Routing here is "dropless" (no capacity limit, as in Mixtral): every token reaches its k experts.
With one expert the router's softmax is exactly 1 and the block *is* the dense FeedForward.

Docs: docs/beyond.md#mixture-of-experts.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from minillm.nn.feedforward import FeedForward
from minillm.utils.configs import refuse_renamed

__all__ = ["MoEFeedForward", "load_balancing_loss"]


# --8<-- [start:aux-loss]
def load_balancing_loss(probs: Tensor, chosen: Tensor, n_experts: int) -> Tensor:
    """Switch Transformer's auxiliary loss, top-k form: E · Σ_e f_e · P_e.

    probs: (N, E) router probabilities of N tokens; chosen: (N, k) the experts each token picked.
    """
    picked = torch.zeros_like(probs).scatter_(1, chosen, 1.0)  # (N, E): 1 where token picked e
    f = picked.mean(dim=0)  # (E,) share of tokens that picked e (sums to k)
    p = probs.mean(dim=0)  # (E,) mean router probability (sums to 1)
    return n_experts * (f * p).sum()


# --8<-- [end:aux-loss]


@refuse_renamed
class MoEFeedForward(nn.Module):
    """E feed-forward experts and a softmax router that picks ``top_k`` of them per token.

    Args:
        n_embd: input and output width.
        d_ff: hidden width of each expert.
        n_experts: E, the number of routed experts (≥ 1).
        top_k: experts per token (1 ≤ top_k ≤ n_experts).
        activation, dropout, bias: as FeedForward (each expert is one).
        n_shared: shared experts that every token passes through (DeepSeek-MoE), merged into one
            FeedForward of width n_shared · d_ff; 0 for none.
        norm_topk: renormalise the k gates to sum to 1 (Mixtral; Qwen3-MoE's ``norm_topk_prob``).

    After each forward: ``aux_loss`` (the balancing loss of that batch, a scalar tensor) and
    ``tokens_per_expert`` ((E,) long: how many tokens each expert processed).
    """

    def __init__(
        self,
        n_embd: int,
        d_ff: int,
        *,
        n_experts: int,
        top_k: int = 2,
        activation: str = "swiglu",
        dropout: float = 0.0,
        bias: bool = False,
        n_shared: int = 0,
        norm_topk: bool = True,
    ):
        super().__init__()
        for name, value, low in (("n_experts", n_experts, 1), ("top_k", top_k, 1), ("n_shared", n_shared, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if top_k > n_experts:
            raise ValueError(f"top_k={top_k} exceeds n_experts={n_experts}: a token can use at most every expert")
        self.n_experts, self.top_k, self.norm_topk = n_experts, top_k, norm_topk
        self.router = nn.Linear(n_embd, n_experts, bias=False)
        expert = dict(activation=activation, dropout=dropout, bias=bias)  # each expert is one FeedForward
        self.experts = nn.ModuleList(FeedForward(n_embd, d_ff, **expert) for _ in range(n_experts))
        self.shared = FeedForward(n_embd, n_shared * d_ff, **expert) if n_shared else None
        self.aux_loss: Tensor | None = None
        self.tokens_per_expert: Tensor | None = None

    # --8<-- [start:moe-forward]
    def route(self, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The router's choice for (N, d) tokens: ``probs`` (N, E) over all experts, ``gates`` (N, k)
        and ``chosen`` (N, k), the k experts each token goes to, most likely first."""
        logits = self.router(tokens)  # (N, E)
        probs = torch.softmax(
            logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1
        )  # ≥ fp32, like Mixtral
        gates, chosen = probs.topk(self.top_k, dim=-1)  # (N, k) each
        if self.norm_topk:
            gates = gates / gates.sum(dim=-1, keepdim=True)  # the k gates sum to 1
        return probs, gates, chosen

    def forward(self, x: Tensor) -> Tensor:
        tokens = x.reshape(-1, x.shape[-1])  # (N, d) with N = B·T
        probs, gates, chosen = self.route(tokens)  # (N, E), (N, k), (N, k)
        out = torch.zeros_like(tokens)  # (N, d)
        counts = torch.zeros(self.n_experts, dtype=torch.long, device=x.device)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.nonzero(chosen == e, as_tuple=True)  # tokens that picked e, and in which slot
            counts[e] = rows.numel()
            if rows.numel():  # each expert sees only its own tokens: the compute saving
                gate = gates[rows, slot, None].to(x.dtype)  # (n_e, 1)
                out.index_add_(0, rows, gate * expert(tokens[rows]))  # (N, d)
        if self.shared is not None:
            out = out + self.shared(tokens)
        self.aux_loss = load_balancing_loss(probs, chosen, self.n_experts)
        self.tokens_per_expert = counts
        return out.reshape(x.shape)  # (B, T, d)

    # --8<-- [end:moe-forward]
