"""Why an RL stage learns nothing: the figures to print every rollout, and the warnings they justify.

Report §1.2.2-1 step 3. The common complaint about GRPO-style training is that it runs, the loss
moves, and nothing is learned. The usual causes are visible in the rollout before any gradient:

    equal_groups  groups whose G rewards are all equal: with a group baseline their advantages are 0,
                  so they teach nothing (all right: too easy; all wrong: too hard or a broken checker)
    truncated     replies cut at max_new_tokens: a reasoning chain cut before its answer earns 0
    no_eos        replies that never emit end-of-sequence (cut, or the sampler stopped them another way)
    clip_frac     tokens whose ratio π/π_old left [1-ε, 1+ε]: near 0 with several epochs = no movement,
                  near 1 = steps too large
    kl            how far the policy has drifted from the reference
    entropy       mean per-token entropy of the policy on its replies: collapsing to 0 = no exploration

``stuck_reasons`` turns a record into the warnings a student should read. Docs: docs/rlhf.md#reasoning-from-rewards.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

__all__ = ["THRESHOLDS", "format_diagnostics", "rollout_diagnostics", "stuck_reasons"]

# past these the warning is printed; chosen so that a healthy run on the examples' tasks prints none
THRESHOLDS = {"equal_groups": 0.9, "truncated": 0.5, "no_eos": 0.5, "entropy_low": 0.02, "clip_frac_high": 0.5}


def rollout_diagnostics(
    rewards: Tensor | None, replies: Sequence[Sequence[int]], eos_id: int, max_new_tokens: int
) -> dict:
    """``truncated`` and ``no_eos`` from the replies; with rewards (P prompts, G replies), ``equal_groups``
    too (None: a stage without groups, such as PPO)."""
    if rewards is not None:
        if not isinstance(rewards, Tensor) or rewards.dim() != 2:
            raise ValueError(
                f"rewards must be a (prompts, G replies) tensor, got {getattr(rewards, 'shape', rewards)!r}"
            )
        if rewards.numel() != len(replies):
            raise ValueError(f"rewards hold {rewards.numel()} replies' scores but {len(replies)} replies were given")
    n = max(1, len(replies))
    no_eos = [not r or r[-1] != eos_id for r in replies]
    out = {
        "truncated": sum(e and len(r) >= max_new_tokens for e, r in zip(no_eos, replies)) / n,
        "no_eos": sum(no_eos) / n,
    }
    if rewards is not None:
        out["equal_groups"] = (rewards.max(1).values == rewards.min(1).values).float().mean().item()
    return out


def stuck_reasons(record: dict) -> list[str]:
    """Warnings for one record (any subset of the keys above; a missing key is not checked)."""
    t, out = THRESHOLDS, []
    if record.get("equal_groups", 0.0) >= t["equal_groups"]:
        out.append(
            f"{record['equal_groups']:.0%} of groups have all-equal rewards: their advantages are 0 and they teach "
            "nothing (all wrong: the task is too hard for the start model, or the checker never accepts; all "
            "right: too easy)"
        )
    if record.get("truncated", 0.0) >= t["truncated"]:
        out.append(
            f"{record['truncated']:.0%} of replies hit max_new_tokens: a chain cut before its answer earns 0; "
            "raise max_new_tokens or SFT shorter chains"
        )
    elif record.get("no_eos", 0.0) >= t["no_eos"]:
        out.append(f"{record['no_eos']:.0%} of replies never emit end-of-sequence: the SFT data must end with it")
    if "entropy" in record and record["entropy"] < t["entropy_low"]:
        out.append(f"entropy {record['entropy']:.3f} nats/token: the policy has stopped exploring (samples repeat)")
    if record.get("clip_frac", 0.0) >= t["clip_frac_high"]:
        out.append(f"clip fraction {record['clip_frac']:.0%}: the updates are too large; lower lr or epochs")
    return out


def format_diagnostics(record: dict) -> str:
    """One line of the figures present in ``record``, for a log."""
    keys = ("reward", "equal_groups", "truncated", "no_eos", "clip_frac", "kl", "entropy", "reply_len")
    return "  ".join(f"{k} {record[k]:.3f}" for k in keys if k in record)
