"""The report's three RLHF steps (§1.2.2-1) end to end on a laptop CPU, plus DPO.

Run as ``python examples/06_rlhf_pipeline.py`` or ``minillm rlhf`` (same arguments).

Task: reply to "\\n3142>" with the digits sorted, "1234\\n". A synthetic labeler stands in for
humans: it writes demonstrations (with occasional slips) and ranks replies by a hidden true score
plus noise (minillm/rlhf/tasks.py).

  1. SFT: a small GPT imitates the labeler's demonstrations (prompt tokens masked out of the loss).
  2. Reward model: the SFT policy samples K = 4 replies per prompt, the labeler ranks them, and a
     copy of the policy with a scalar head learns the ranking (all K-choose-2 pairs).
  3. PPO: starting from SFT, sample, score with the reward model, pay β·KL to the SFT reference
     per token, update with clipped PPO.
  +  DPO on the best-vs-worst pairs of the same rankings, and PPO with β = 0 (no KL leash).

    python examples/06_rlhf_pipeline.py            # ~1 min on 2 CPU cores
    python examples/06_rlhf_pipeline.py --quick    # ~25 s smoke run

Prints one table: true score, reward-model score and KL to the SFT reference of each policy on
held-out prompts (replies sampled at temperature 1), the reward model's held-out accuracy; saves
the PPO curves as a PNG, the per-iteration statistics as JSONL, and each stage's weights as
safetensors in out/ — every stage file is written only after its stage succeeded, atomically,
so a failing later stage never damages an earlier stage's checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import torch

from minillm import GPT, GPTConfig, generate
from minillm.plotting import pyplot
from minillm.rlhf import (
    DPOConfig,
    DPOTrainer,
    PPOConfig,
    PPOTrainer,
    Ranking,
    RewardConfig,
    RewardModel,
    RewardModelTrainer,
    SFTConfig,
    SFTTrainer,
    SortTask,
    SyntheticLabeler,
    true_score,
)
from minillm.rlhf.ppo import sequence_logprobs

__all__ = ["main", "save_stage"]

K = 4  # replies ranked per prompt
# The K replies are sampled at different temperatures so the labeler sees (and the reward model
# learns from) varied replies, not only the SFT policy's most typical ones.
RANKING_TEMPERATURES = (0.7, 1.0, 1.3, 1.6)


def sample_replies(policy, task, digits: list[str], gen, n_new=8, temperature=1.0) -> list[str]:
    """One sampled reply (text, ending in newline if finished) per prompt; equal lengths batch together."""
    enc = task.tokenizer.encode
    replies = [""] * len(digits)
    by_len: dict[int, list[int]] = {}
    for i, d in enumerate(digits):
        by_len.setdefault(len(d), []).append(i)
    for _, idxs in by_len.items():
        prompts = torch.tensor([enc(task.prompt(digits[i])) for i in idxs])
        out = generate(policy, prompts, n_new, temperature=temperature, eos_id=task.eos_id, generator=gen)
        for i, row in zip(idxs, out[:, prompts.shape[1] :].tolist()):
            text = task.tokenizer.decode(row)
            replies[i] = text[: text.index("\n") + 1] if "\n" in text else text
    return replies


@torch.no_grad()
def evaluate(policy, ref, rm, task, digits: list[str], seed: int) -> dict:
    """Mean true score, reward-model score and KL(policy ‖ ref) of sampled replies."""
    enc = task.tokenizer.encode
    replies = sample_replies(policy, task, digits, torch.Generator().manual_seed(seed))
    true = [true_score(d, task.parse_reply(r)) for d, r in zip(digits, replies)]
    seqs = [enc(task.prompt(d) + r) for d, r in zip(digits, replies)]
    lengths = torch.tensor([len(s) for s in seqs])
    idx = torch.full((len(seqs), max(lengths)), task.eos_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), idx.shape[1] - 1, dtype=torch.bool)
    for i, (s, d) in enumerate(zip(seqs, digits)):
        idx[i, : len(s)] = torch.tensor(s)
        mask[i, len(enc(task.prompt(d))) - 1 : len(s) - 1] = True
    kl = ((sequence_logprobs(policy, idx)[0] - sequence_logprobs(ref, idx)[0]) * mask).sum(1)
    return {
        "true": sum(true) / len(true),
        "rm": rm(idx, lengths).mean().item(),
        "kl": kl.mean().item(),
        "example": f"{digits[0]}>{replies[0].strip()}",
    }


def save_stage(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model``'s weights to ``path`` (safetensors) atomically: temp file, fsync, rename."""
    from safetensors.torch import save_model  # handles GPT's tied embedding / output matrix

    from minillm.fileio import atomic_write

    return atomic_write(path, lambda tmp: save_model(model, str(tmp)))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="minillm rlhf", description=__doc__.splitlines()[0])
    p.add_argument("--sft-steps", type=int, default=600)
    p.add_argument("--rm-prompts", type=int, default=1500)
    p.add_argument("--rm-steps", type=int, default=500)
    p.add_argument("--ppo-iterations", type=int, default=40)
    p.add_argument("--dpo-steps", type=int, default=300)
    p.add_argument("--kl-coef", type=float, default=0.2, help="initial β for the main PPO run")
    p.add_argument("--target-kl", type=float, default=1.0, help="per-reply KL the β controller aims for")
    p.add_argument("--kl-horizon", type=int, default=256, help="controller horizon (Ziegler et al.: 10,000)")
    p.add_argument("--error-rate", type=float, default=0.4, help="share of demonstrations with a slip")
    p.add_argument("--n-eval", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/06_rlhf")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.sft_steps, args.rm_prompts, args.rm_steps, args.ppo_iterations, args.dpo_steps = 300, 400, 200, 12, 100
        args.n_eval = 150
    start = time.time()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    task, labeler = SortTask(3, 6), SyntheticLabeler(noise=0.05, seed=args.seed)
    enc, pad = task.tokenizer.encode, task.eos_id
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(args.n_eval)]

    # 1. Supervised policy.
    demos = [
        (task.prompt(d), task.demonstration(d, rng, args.error_rate))
        for d in (task.sample_digits(rng) for _ in range(4000))
    ]
    policy = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=24, n_layer=2, n_head=4, n_embd=64))
    SFTTrainer(policy, demos, enc, pad, SFTConfig(steps=args.sft_steps, batch_size=64, lr=2e-3)).train()
    sft = copy.deepcopy(policy).eval()
    save_stage(sft, f"{args.out}_sft.safetensors")
    print(f"[1] SFT on {len(demos)} demonstrations ({args.error_rate:.0%} with a slip): {time.time() - start:.0f} s")

    # 2. Reward model from rankings of the SFT policy's own samples.
    gen = torch.Generator().manual_seed(args.seed)
    rank_digits = [task.sample_digits(rng) for _ in range(args.rm_prompts + 300)]
    samples = [sample_replies(sft, task, rank_digits, gen, temperature=t) for t in RANKING_TEMPERATURES]
    rankings = []
    for i, d in enumerate(rank_digits):
        replies = [samples[k][i] for k in range(K)]
        ranks = labeler.rank(d, [task.parse_reply(r) for r in replies])
        rankings.append(Ranking(task.prompt(d), [r if r.endswith("\n") else r + "\n" for r in replies], ranks))
    train_r, test_r = rankings[:-300], rankings[-300:]
    rm = RewardModel.from_policy(sft)
    rm_trainer = RewardModelTrainer(rm, train_r, enc, pad, RewardConfig(steps=args.rm_steps, batch_size=16, lr=1e-3))
    rm_trainer.train()
    rm_acc = rm_trainer.accuracy(test_r)
    rm_true_acc = true_pair_accuracy(rm, rm_trainer, test_r, task)
    rm.eval()
    save_stage(rm, f"{args.out}_reward_model.safetensors")
    print(
        f"[2] reward model: held-out pairwise accuracy {rm_acc:.1%} vs labels, {rm_true_acc:.1%} vs true score "
        f"({time.time() - start:.0f} s)"
    )

    def prompt_sampler(r):
        return task.prompt(task.sample_digits(r))

    def score_fn(prompt, reply):
        return true_score(prompt.strip()[:-1], task.parse_reply(reply))

    def run_ppo(kl_coef, target_kl, name):
        trainer = PPOTrainer(
            copy.deepcopy(sft),
            rm,
            prompt_sampler,
            enc,
            task.tokenizer.decode,
            task.eos_id,
            pad,
            PPOConfig(
                iterations=args.ppo_iterations,
                kl_coef=kl_coef,
                target_kl=target_kl,
                kl_horizon=args.kl_horizon,
                seed=args.seed,
            ),
            score_fn=score_fn,
            log_path=f"{args.out}_{name}.jsonl",
        )
        Path(f"{args.out}_{name}.jsonl").unlink(missing_ok=True)
        return trainer.policy, trainer.train()

    # 3. PPO with the KL penalty, then the same without it.
    ppo, hist = run_ppo(args.kl_coef, args.target_kl, "ppo")
    save_stage(ppo, f"{args.out}_ppo.safetensors")
    print(f"[3] PPO (β={args.kl_coef}, target KL {args.target_kl}): {time.time() - start:.0f} s")
    hacked, hist0 = run_ppo(0.0, None, "ppo_beta0")
    save_stage(hacked, f"{args.out}_ppo_beta0.safetensors")
    print(f"[3'] PPO with β = 0: {time.time() - start:.0f} s")

    # DPO on the best and worst reply of each training ranking.
    triples = [
        (r.prompt, r.replies[r.ranks.index(0)], r.replies[r.ranks.index(K - 1)])
        for r in train_r
        if r.replies[r.ranks.index(0)] != r.replies[r.ranks.index(K - 1)]
    ]
    dpo = copy.deepcopy(sft)
    DPOTrainer(dpo, triples, enc, pad, DPOConfig(steps=args.dpo_steps, batch_size=32, lr=5e-4, beta=0.1)).train()
    save_stage(dpo, f"{args.out}_dpo.safetensors")
    print(f"[+] DPO on {len(triples)} preference pairs: {time.time() - start:.0f} s")

    rows = {"labeler demos": None, "SFT (reference)": sft, "PPO": ppo, "DPO": dpo, "PPO, β = 0": hacked}
    demo_true = sum(
        true_score(d, task.demonstration(d, random.Random(i), args.error_rate).strip()) for i, d in enumerate(held_out)
    ) / len(held_out)
    print(f"\nheld-out prompts: {len(held_out)}, replies sampled at temperature 1, seed {args.seed}")
    print(f"{'policy':<16} {'true score':>10} {'RM score':>9} {'KL to SFT':>10}   example")
    results = {"rm_accuracy": rm_acc, "rm_true_accuracy": rm_true_acc}
    for name, model in rows.items():
        if model is None:
            print(f"{name:<16} {demo_true:>10.3f} {'':>9} {'':>10}")
            continue
        r = evaluate(model, sft, rm, task, held_out, seed=args.seed + 7)
        results[name] = r
        print(f"{name:<16} {r['true']:>10.3f} {r['rm']:>9.2f} {r['kl']:>10.2f}   {r['example']}")
    print(f"reward model held-out accuracy: {rm_acc:.1%} (labels), {rm_true_acc:.1%} (true score)")
    print(f"final β of the PPO run: {hist[-1]['kl_coef']:.3f}; total {time.time() - start:.0f} s")
    _plot(hist, hist0, f"{args.out}.png")
    return results


@torch.no_grad()
def true_pair_accuracy(rm, trainer, rankings, task) -> float:
    """Share of reply pairs with different true scores that the reward model orders correctly."""
    right = total = 0
    for r in rankings:
        d = r.prompt.strip()[:-1]
        truth = [true_score(d, task.parse_reply(x)) for x in r.replies]
        scores = trainer._scores([r])[0][0].tolist()
        for i in range(len(truth)):
            for j in range(len(truth)):
                if truth[i] > truth[j]:
                    total += 1
                    right += scores[i] > scores[j]
    return right / max(total, 1)


def _plot(hist, hist0, out):
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for h, label in ((hist, "PPO, β > 0"), (hist0, "PPO, β = 0")):
        it = [r["iteration"] for r in h]
        axes[0].plot(it, [r["rm_score"] for r in h], label=label)
        axes[1].plot(it, [r["true_score"] for r in h], label=label)
        axes[2].plot(it, [r["kl"] for r in h], label=label)
    for ax, title in zip(axes, ["reward-model score", "true score (hidden)", "KL to SFT per reply"]):
        ax.set(title=title, xlabel="PPO iteration")
        ax.legend()
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
