"""Grades ex08_gae.py against minillm and hand-computed values."""

import torch
from _grader import call, expect, fail, load, shapes

from minillm.rlhf.losses import gae

ex = load("ex08_gae")


def recursion(r, v, gamma, lam, next_value, forward=False, td_gamma=None):
    """The GAE recursion with a pluggable bootstrap, run backward (right) or forward (a mistake);
    ``td_gamma`` replaces γ in the TD error δ_t only (a mistake)."""
    adv, running = torch.zeros_like(v), 0.0
    steps = range(len(v)) if forward else reversed(range(len(v)))
    for t in steps:
        delta = r[t] + (gamma if td_gamma is None else td_gamma) * next_value(t) - v[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv


def reward_to_go(r, gamma):
    out, running = torch.zeros_like(r), 0.0
    for t in reversed(range(len(r))):
        running = r[t] + gamma * running
        out[t] = running
    return out


def mistakes(r, v, gamma, lam) -> dict:
    """(advantages, returns) that the usual mistakes give; None where a mistake leaves that part right."""
    n = len(v)
    nxt = lambda t: v[t + 1] if t + 1 < n else 0.0
    right = recursion(r, v, gamma, lam, nxt)
    return {
        "the loop runs forward: A_t needs A_{t+1}, so walk t from T-1 down to 0": (
            recursion(r, v, gamma, lam, nxt, forward=True),
            None,
        ),
        "λ is missing: A_t = δ_t + γ·λ·A_{t+1}": (recursion(r, v, gamma, 1.0, nxt), None),
        "γ is missing from the recursion: A_t = δ_t + γ·λ·A_{t+1}, not δ_t + λ·A_{t+1}": (
            recursion(r, v, 1.0, lam, nxt, td_gamma=gamma),
            None,
        ),
        "γ and λ are swapped in the TD error: δ_t = r_t + γ·V_{t+1} - V_t (λ only weighs the A_{t+1} term)": (
            recursion(r, v, gamma, lam, nxt, td_gamma=lam),
            None,
        ),
        "γ is missing from the TD error: δ_t = r_t + γ·V_{t+1} - V_t": (
            recursion(r, v, gamma, lam, nxt, td_gamma=1.0),
            None,
        ),
        "the bootstrap wraps around: V after the last step is 0, not V_0 (torch.roll?)": (
            recursion(r, v, gamma, lam, lambda t: v[(t + 1) % n]),
            None,
        ),
        "δ_t uses V_t where it needs V_{t+1}: δ_t = r_t + γ V_{t+1} - V_t": (
            recursion(r, v, gamma, lam, lambda t: v[t]),
            None,
        ),
        "the returns are the advantages plus the values (A_t + V_t), not the advantages alone": (right, right),
        "the returns are the discounted reward-to-go Σ γ^k r_{t+k}: here they are A_t + V_t, the target the value "
        "head is trained on in PPO": (right, reward_to_go(r, gamma)),
    }


def run(r, v, gamma, lam):
    what = f"gae(rewards {shapes(r)}, values {shapes(v)}, gamma={gamma}, lam={lam})"
    hint = "V after the last step is 0: there is no V_T to read, so use 0 when t + 1 == T"
    result = call(what, ex.gae, r, v, gamma, lam, hint=hint)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(f"{what}: return the pair (advantages, returns), got {type(result).__name__}")
    return result


def grade(r, v, gamma, lam, what):
    adv, ret = run(r, v, gamma, lam)
    ref_adv, ref_ret = gae(r[None], v[None], torch.ones(1, len(v), dtype=torch.bool), gamma, lam)
    wrong = mistakes(r, v, gamma, lam)
    expect(adv, ref_adv[0], f"the advantages {what}", {h: a for h, (a, _) in wrong.items()})
    expect(ret, ref_ret[0], f"the returns {what}", {h: b for h, (_, b) in wrong.items() if b is not None})


def test_hand_values():
    # γ = λ = 1: the advantage is the reward still to come minus V: (1 - 0.5, 1 - 0.5)
    r, v = torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5])
    adv, ret = run(r, v, 1.0, 1.0)
    wrong = mistakes(r, v, 1.0, 1.0)
    what = "for rewards (0, 1), values (0.5, 0.5), γ = λ = 1"
    expect(adv, torch.tensor([0.5, 0.5]), f"the advantages {what}", {h: a for h, (a, _) in wrong.items()})
    returns_wrong = {h: b for h, (_, b) in wrong.items() if b is not None}
    expect(ret, torch.tensor([1.0, 1.0]), "the returns (advantages + values)", returns_wrong)
    grade(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.2, 0.4, 0.8]), 0.9, 0.5, "on a 3-step episode")


def test_matches_minillm():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(9, generator=g), torch.randn(9, generator=g)
    for gamma, lam in [(1.0, 0.95), (0.9, 0.5), (0.99, 0.0)]:
        grade(r, v, gamma, lam, f"for γ = {gamma}, λ = {lam}")
