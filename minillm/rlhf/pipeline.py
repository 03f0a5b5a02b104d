"""The report's three RLHF steps (§1.2.2-1) end to end on a laptop CPU, plus DPO: ``run_pipeline``.

Task: reply to "\\n3142>" with the digits sorted, "1234\\n". A synthetic labeler stands in for
humans (rlhf/tasks.py). ``run_pipeline(PipelineConfig())`` runs, in order:

  1. SFT: a small GPT imitates the labeler's demonstrations (prompt tokens masked out of the loss).
  2. Reward model: the SFT policy samples K = 4 replies per prompt, the labeler ranks them, and a
     copy of the policy with a scalar head learns the ranking (all K-choose-2 pairs).
  3. PPO: starting from SFT, sample, score with the reward model, pay β·KL to the SFT reference.
  +  PPO with β = 0 (no KL leash: reward hacking), DPO on the best-vs-worst pairs of the rankings, and
     GRPO (no value model) with the same number of rollouts, against the reward model and against the
     task's own checker (a rule reward, as DeepSeek-R1's).

It returns every stage's records and the held-out evaluation (rlhf/evaluate.py); ``minillm rlhf``
and ``minillm demo rlhf`` call it. examples/06_rlhf_pipeline.py tells the same story step by step,
with printing and plots. Docs: docs/rlhf.md.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from minillm.models.gpt import GPT, GPTConfig
from minillm.rlhf.dpo import DPOConfig, DPOTrainer
from minillm.rlhf.evaluate import demonstration_score, evaluate_policy, sample_replies, true_pair_accuracy
from minillm.rlhf.grpo import GRPOConfig, GRPOTrainer
from minillm.rlhf.ppo import PPOConfig, PPOTrainer
from minillm.rlhf.reward import Ranking, RewardConfig, RewardModel, RewardModelTrainer
from minillm.rlhf.sft import SFTConfig, SFTTrainer
from minillm.rlhf.tasks import SortTask, SyntheticLabeler
from minillm.utils.configs import check_fields
from minillm.utils.fileio import atomic_write

__all__ = ["PipelineConfig", "make_rankings", "preference_pairs", "run_pipeline", "save_stage"]

# The K = 4 replies the labeler ranks are sampled at different temperatures, so the reward model
# learns from varied replies, not only the SFT policy's most typical ones.
RANKING_TEMPERATURES = (0.7, 1.0, 1.3, 1.6)
QUICK = {"sft_steps": 300, "rm_prompts": 400, "rm_steps": 200, "ppo_steps": 12, "dpo_steps": 100, "n_eval": 150}


@dataclass
class PipelineConfig:
    """Every knob of the pipeline, flat (one ``minillm rlhf`` flag each)."""

    sft_steps: int = 600
    rm_prompts: int = 1500  # prompts whose K replies the labeler ranks for training
    rm_test_prompts: int = 300  # more, held out: the reward model's accuracy
    rm_steps: int = 500
    ppo_steps: int = 60  # rollouts (PPO and GRPO alike)
    dpo_steps: int = 300
    kl_coef: float = 0.2  # initial β of the main PPO run
    target_kl: float = 1.0  # per-reply KL the β controller aims for
    kl_horizon: int = 256  # controller horizon (Ziegler et al.: 10,000)
    error_rate: float = 0.5  # share of demonstrations with a slip: SFT lands near 0.75, well below 1
    n_eval: int = 1000  # held-out prompts (a mean true score to about ±0.01)
    seed: int = 0
    out_dir: str = ""  # where stage weights and records go; "" writes nothing
    quick: bool = False  # a smoke run of about a minute: sets the six sizes in QUICK (given sizes are replaced)

    def __post_init__(self):
        check_fields(self)
        if self.quick:
            for name, value in QUICK.items():
                setattr(self, name, value)
        for name in (
            "sft_steps",
            "rm_prompts",
            "rm_test_prompts",
            "rm_steps",
            "ppo_steps",
            "dpo_steps",
            "kl_horizon",
            "n_eval",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.kl_coef < 0 or self.target_kl < 0:
            raise ValueError(f"kl_coef and target_kl must be >= 0, got {self.kl_coef}, {self.target_kl}")
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate}")

    # one place for each stage's settings: run_pipeline and example 06 both use these
    def sft(self) -> SFTConfig:
        return SFTConfig(max_steps=self.sft_steps, batch_size=64, lr=2e-3, seed=self.seed)

    def reward(self) -> RewardConfig:
        return RewardConfig(max_steps=self.rm_steps, batch_size=16, lr=1e-3, seed=self.seed)

    def ppo(self, kl_coef: float, target_kl: float) -> PPOConfig:
        return PPOConfig(
            max_steps=self.ppo_steps, kl_coef=kl_coef, target_kl=target_kl, kl_horizon=self.kl_horizon, seed=self.seed
        )

    def grpo(self, kl_coef: float = 0.04) -> GRPOConfig:
        """As many rollouts of 64 replies as PPO (16 prompts × G = 4); β fixed, DeepSeekMath's 0.04."""
        return GRPOConfig(max_steps=self.ppo_steps, kl_coef=kl_coef, seed=self.seed)

    def dpo(self) -> DPOConfig:
        return DPOConfig(max_steps=self.dpo_steps, batch_size=32, lr=5e-4, beta=0.1, seed=self.seed)

    def policy(self, task: SortTask) -> GPTConfig:
        return GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=24, n_layer=2, n_head=4, n_embd=64)


def make_rankings(policy: GPT, task: SortTask, labeler: SyntheticLabeler, digits: list[str], seed: int) -> list:
    """K replies of ``policy`` per prompt, one per temperature, ranked by the labeler."""
    gen = torch.Generator().manual_seed(seed)
    samples = [sample_replies(policy, task, digits, gen, temperature=t) for t in RANKING_TEMPERATURES]
    rankings = []
    for i, d in enumerate(digits):
        replies = [s[i] for s in samples]
        ranks = labeler.rank(d, [task.parse_reply(r) for r in replies])
        rankings.append(Ranking(task.prompt(d), [r if r.endswith("\n") else r + "\n" for r in replies], ranks))
    return rankings


def preference_pairs(rankings: list[Ranking]) -> list[tuple[str, str, str]]:
    """(prompt, best reply, worst reply) of each ranking whose best and worst differ: DPO's data."""
    triples = []
    for r in rankings:
        best, worst = r.replies[r.ranks.index(min(r.ranks))], r.replies[r.ranks.index(max(r.ranks))]
        if best != worst:
            triples.append((r.prompt, best, worst))
    return triples


def save_stage(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model``'s weights to ``path`` (safetensors) atomically: temp file, fsync, rename."""
    from safetensors.torch import save_model  # handles GPT's tied embedding / output matrix

    return atomic_write(path, lambda tmp: save_model(model, str(tmp)))


def run_pipeline(config: PipelineConfig, log=print) -> dict:
    """Run SFT → reward model → PPO (β > 0 and β = 0), GRPO (reward model and rule) and DPO; return
    ``{stage: records, ..., "evaluation": held-out figures}``. Stage weights are written as each stage succeeds."""
    if not isinstance(config, PipelineConfig):
        raise TypeError(f"run_pipeline expects a PipelineConfig, got {type(config).__name__}")
    c, out = config, {}
    torch.manual_seed(c.seed)
    rng, task = random.Random(c.seed), SortTask(3, 6)
    labeler, tok, eos = SyntheticLabeler(noise=0.05, seed=c.seed), task.tokenizer, task.eos_id

    def done(stage: str, model: torch.nn.Module, records: list[dict]) -> None:
        out[stage] = records
        log(f"{stage}: {len(records)} steps, last loss {records[-1]['loss']:.4f}, {records[-1]['time_s']:.0f} s")
        if c.out_dir:
            save_stage(model, Path(c.out_dir) / f"{stage}.safetensors")

    demos = [
        (task.prompt(d), task.demonstration(d, rng, c.error_rate))
        for d in (task.sample_digits(rng) for _ in range(4000))
    ]
    policy = GPT(c.policy(task))
    done("sft", policy, SFTTrainer(policy, demos, tok, eos, c.sft()).train())
    sft = copy.deepcopy(policy).eval()

    n_rank = c.rm_prompts + c.rm_test_prompts
    rankings = make_rankings(sft, task, labeler, [task.sample_digits(rng) for _ in range(n_rank)], c.seed)
    train_r, test_r = rankings[: c.rm_prompts], rankings[c.rm_prompts :]
    rm = RewardModel.from_policy(sft)
    rm_trainer = RewardModelTrainer(rm, train_r, tok, eos, c.reward())
    done("reward_model", rm, rm_trainer.train())
    rm.eval()

    policies = {"sft": sft}
    for stage, kl_coef, target_kl in (("ppo", c.kl_coef, c.target_kl), ("ppo_beta0", 0.0, 0.0)):
        ppo = PPOTrainer(copy.deepcopy(sft), rm, task.sample_prompt, tok, eos, c.ppo(kl_coef, target_kl), task.score)
        done(stage, ppo.policy, ppo.train())
        policies[stage] = ppo.policy
    for stage, reward in (("grpo", rm), ("grpo_rule", task.score)):
        grpo = GRPOTrainer(copy.deepcopy(sft), reward, task.sample_prompt, tok, eos, c.grpo(), task.score)
        done(stage, grpo.policy, grpo.train())
        policies[stage] = grpo.policy
    policies["dpo"] = copy.deepcopy(sft)
    done("dpo", policies["dpo"], DPOTrainer(policies["dpo"], preference_pairs(train_r), tok, eos, c.dpo()).train())

    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(c.n_eval)]
    evaluation = {name: evaluate_policy(p, sft, rm, task, held_out, seed=c.seed + 7) for name, p in policies.items()}
    evaluation["demos_true"] = demonstration_score(task, held_out, c.error_rate)
    evaluation["rm_accuracy"] = rm_trainer.accuracy(test_r)
    evaluation["rm_true_accuracy"] = true_pair_accuracy(rm, test_r, task)
    out["evaluation"] = evaluation
    if c.out_dir:
        text = json.dumps({"config": dataclasses.asdict(c), **out}, indent=1, ensure_ascii=False)
        atomic_write(Path(c.out_dir) / "records.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return out
