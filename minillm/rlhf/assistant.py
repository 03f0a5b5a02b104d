"""A tiny assistant, end to end on a laptop: the whole arc of report §1.2.2 on a synthetic world.

``run_assistant(AssistantConfig())`` runs, in order, each stage with the trainer minillm already has:

  1. world: people and their biographies in English and Chinese (minillm/data/world.py,
     biographies.py), with or without knowledge augmentation;
  2. tokenizer: a byte-level BPE trained on the world's text, with the chat tokens as special
     tokens (bytes underneath, so any text a user types, Chinese included, has an encoding);
  3. pre-training on the biographies (minillm/train/loop.py's ``train_lm``): the knowledge;
  4. SFT on the chat format (rlhf/sft.py): questions about *half* the people, both languages, and
     "I don't know" for a few made-up names;
  5. a reward model (rlhf/reward.py) from the world labeler's rankings of sampled answers
     (correct > "I don't know" > wrong; for a made-up person "I don't know" > anything);
  6. PPO against it with the KL penalty (rlhf/ppo.py), and DPO on the same rankings (rlhf/dpo.py);
  7. the report card (rlhf/report_card.py) of base / SFT / PPO / DPO on held-out questions.

Checkpoints (``minillm chat --ckpt OUT/chat``) and ``report_card.json`` go to ``out_dir``.
``minillm assistant`` and examples/15_tiny_assistant.py call it. Docs: docs/assistant.md.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from minillm.data.biographies import REFUSAL, biography
from minillm.data.world import check_positive_int, imaginary_names, make_world
from minillm.models.gpt import GPT, GPTConfig
from minillm.rlhf.dpo import DPOConfig, DPOTrainer
from minillm.rlhf.knowledge import WorldLabeler, question_sets
from minillm.rlhf.pipeline import preference_pairs
from minillm.rlhf.ppo import PPOConfig, PPOTrainer
from minillm.rlhf.report_card import assistant_card
from minillm.rlhf.reward import Ranking, RewardConfig, RewardModel, RewardModelTrainer
from minillm.rlhf.sampling import generate_replies
from minillm.rlhf.sft import SFTConfig, SFTTrainer
from minillm.tokenizers import BPETokenizer
from minillm.tokenizers.chat import CHAT_TOKENS, END, ChatFormat
from minillm.train.checkpoint import save_checkpoint
from minillm.train.loop import train_lm
from minillm.utils.configs import check_fields
from minillm.utils.fileio import atomic_write

__all__ = [
    "QUICK",
    "AssistantConfig",
    "bio_batches",
    "heldout_text",
    "made_up_names",
    "pretraining_text",
    "run_assistant",
]

EOT = "<|endoftext|>"  # separates biographies in pre-training
# The smoke run: a 2-layer, 64-wide model reads each biography 3.5x as often as the 4-layer, 96-wide one
# of before in about the same time, and stores enough to rank most held-out facts first (docs/assistant.md).
QUICK = {"n_people": 100, "pretrain_steps": 1400, "sft_steps": 200, "rm_questions": 200, "rm_steps": 40,
         "ppo_steps": 4, "dpo_steps": 30, "n_eval": 30, "n_layer": 2, "n_embd": 64, "vocab_size": 768}  # fmt: skip
RANKING_TEMPERATURES = (0.7, 1.0, 1.3)  # replies sampled from SFT; the labeler's reference or a refusal is the 4th


@dataclass
class AssistantConfig:
    """Every knob of the pipeline, flat (one ``minillm assistant`` flag each)."""

    n_people: int = 1000
    seed: int = 0
    augment: bool = True  # several differently worded and ordered biographies per person
    bios_per_person: int = 20  # per language; without augmentation the one biography is repeated as often
    vocab_size: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    pretrain_steps: int = 5000  # ~160 biographies read per person: 3,000 left the facts half stored
    sft_steps: int = 600
    sft_lr: float = 3e-4  # low: a higher rate overwrites what pre-training stored (bits per byte rises)
    sft_rounds: int = 1  # times every attribute of every tuned person is asked; 4 memorised the tuned people
    made_up_share: float = 0.05  # made-up names, as a share of the people (each stage its own names)
    rm_questions: int = 1500  # questions whose sampled answers the labeler ranks (a fifth held out)
    rm_steps: int = 300
    ppo_steps: int = 60
    kl_coef: float = 0.1
    rl_lr: float = 5e-5  # PPO's and DPO's; at 3e-4 a few rollouts already garble the answers
    dpo_steps: int = 200
    rlhf: bool = True  # False: stop after SFT (the augmentation comparison needs no more)
    n_eval: int = 150  # people (or made-up names) per question set of the report card
    out_dir: str = ""  # "" writes nothing
    quick: bool = False  # a smoke run (under 2 minutes on 2 cores): QUICK's sizes replace the given ones

    def __post_init__(self):
        check_fields(self)
        if self.quick:
            for name, v in QUICK.items():
                setattr(self, name, v)
        check_positive_int(self.seed, "seed", low=0)
        for f in dataclasses.fields(self):
            if f.type == "int" and f.name != "seed":
                check_positive_int(getattr(self, f.name), f.name)
        if self.sft_lr <= 0 or self.rl_lr <= 0:
            raise ValueError(f"sft_lr and rl_lr must be > 0, got {self.sft_lr}, {self.rl_lr}")
        if not 0 < self.made_up_share < 1 or self.kl_coef < 0:
            raise ValueError(
                f"made_up_share must be in (0, 1) and kl_coef >= 0, got {self.made_up_share}, {self.kl_coef}"
            )

    def model(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd)  # fmt: skip


def pretraining_text(world, per_person: int, augment: bool, seed: int) -> list[str]:
    """``per_person`` biographies per person and language: fresh ones with ``augment``, else one repeated."""
    rng = random.Random(f"bios-{seed}")
    if augment:
        return [biography(p, lang, rng, True) for p in world.people for lang in p.languages for _ in range(per_person)]
    return [b for p in world.people for lang in p.languages for b in [biography(p, lang, rng)] * per_person]


def heldout_text(world, config: AssistantConfig) -> str:
    """Fresh augmented biographies of the first ``n_eval`` people: wordings never trained on, facts that were."""
    return "\n".join(
        biography(p, lang, random.Random(f"heldout-{config.seed}-{i}"), True)
        for i, p in enumerate(world.people[: config.n_eval])
        for lang in p.languages
    )


def made_up_names(world, config: AssistantConfig) -> tuple[list, list, list]:
    """Names of no one, three disjoint lists: for SFT's refusals, for the rankings and PPO, for the report card."""
    n = max(4, int(config.made_up_share * config.n_people))
    names = imaginary_names(world, 3 * n, config.seed)
    return names[:n], names[n : 2 * n], names[2 * n :]


def bio_batches(bios: list[str], tokenizer, batch_size: int, seed: int, block_size: int | None = None):
    """A function returning (inputs, targets) (B, T): ``batch_size`` random biographies, each followed by
    the end-of-text token, right-padded (targets -100 on the padding). A biography longer than
    ``block_size`` is a ValueError before any training."""
    eot, gen = tokenizer.special_tokens[EOT], torch.Generator().manual_seed(seed)
    encoded = [tokenizer.encode(b) + [eot] for b in bios]
    longest = max(map(len, encoded)) - 1
    if block_size is not None and longest > block_size:
        raise ValueError(
            f"a biography takes {longest} tokens but block_size={block_size}: raise block_size or vocab_size"
        )

    def batch():
        rows = [encoded[i] for i in torch.randint(len(encoded), (batch_size,), generator=gen).tolist()]
        t = max(map(len, rows)) - 1
        x = torch.full((batch_size, t), eot)
        y = torch.full((batch_size, t), -100)
        for i, r in enumerate(rows):
            x[i, : len(r) - 1], y[i, : len(r) - 1] = torch.tensor(r[:-1]), torch.tensor(r[1:])
        return x, y

    return batch


def _rankings(sft, chat: ChatFormat, questions, labeler: WorldLabeler, seed: int) -> list[Ranking]:
    """Three sampled replies and the reference (real people) or the refusal (made-up ones), ranked."""
    gen = torch.Generator().manual_seed(seed)
    prompts = [chat.prompt(q.messages) for q in questions]
    sampled = [generate_replies(sft, prompts, 24, chat.end_id, t, gen) for t in RANKING_TEMPERATURES]
    out = []
    for i, q in enumerate(questions):
        replies = [chat.tokenizer.decode(s[i]).removesuffix(END) for s in sampled]
        replies.append(q.reference if q.real else REFUSAL[q.lang])
        ranks = labeler.rank(q, replies)
        if len(set(ranks)) > 1:
            out.append(Ranking(chat.text(q.messages) + "<|assistant|>", [r + END for r in replies], ranks))
    return out


def _save(out_dir: str, name: str, model: GPT, config: AssistantConfig, tokenizer_file: Path, card=None) -> None:
    if out_dir:
        configs = {"model": model.config.to_dict(), "assistant": dataclasses.asdict(config)}
        save_checkpoint(
            Path(out_dir) / name, 0, model, configs=configs, metrics=card or {}, tokenizer_file=tokenizer_file
        )


def run_assistant(config: AssistantConfig, log=print) -> dict:
    """Every stage (module docstring); returns {"records": {stage: records}, "card": report card,
    "rm_accuracy": held-out ranking accuracy, "models": {name: model}, "chat": ChatFormat}."""
    if not isinstance(config, AssistantConfig):
        raise TypeError(f"run_assistant expects an AssistantConfig, got {type(config).__name__}")
    c, records = config, {}
    torch.manual_seed(c.seed)
    world = make_world(c.n_people, c.seed)
    sft_names, rl_names, eval_names = made_up_names(world, c)
    bios = pretraining_text(world, c.bios_per_person, c.augment, c.seed)
    labeler = WorldLabeler()
    sft_questions = labeler.examples(world, sft_names, c.sft_rounds, c.seed)
    qa_text = "\n".join(q.text + " " + q.reference for q in sft_questions[:: max(1, len(sft_questions) // 2000)])
    tok = BPETokenizer.train("\n".join(bios[:: c.bios_per_person]) + "\n" + qa_text, c.vocab_size, [*CHAT_TOKENS, EOT])
    chat = ChatFormat(tok)
    tmp = tempfile.TemporaryDirectory()
    tok_file = Path(tmp.name) / "tokenizer.json"
    tok.save(tok_file)
    log(
        f"world: {c.n_people} people, {len(bios)} biographies (augment={c.augment}); tokenizer: {tok.vocab_size} tokens"
    )

    model = GPT(c.model(tok.vocab_size))
    losses = train_lm(model, bio_batches(bios, tok, 32, c.seed, c.block_size), c.pretrain_steps, lr=2e-3, log=log,
                      log_every=max(1, c.pretrain_steps // 5))  # fmt: skip
    records["pretrain"] = [{"step": i + 1, "loss": v} for i, v in enumerate(losses)]
    base = copy.deepcopy(model).eval()
    _save(c.out_dir, "base", base, c, tok_file)

    pairs = [chat.pair([*q.messages, {"role": "assistant", "content": q.reference}]) for q in sft_questions]
    records["sft"] = SFTTrainer(
        model, pairs, tok, chat.end_id, SFTConfig(c.sft_steps, 32, c.sft_lr, seed=c.seed)
    ).train()
    sft = copy.deepcopy(model).eval()
    log(f"sft: {len(pairs)} question/answer pairs, last loss {records['sft'][-1]['loss']:.3f}")

    if not c.rlhf:
        return _finish(c, records, {"base": base, "sft": sft}, sft, chat, world, eval_names, tok_file, tmp, None)
    rl_questions = labeler.examples(world, rl_names, 1, c.seed + 1)  # made-up people: a quarter of the questions
    real, fake = [q for q in rl_questions if q.real], [q for q in rl_questions if not q.real]
    rl_questions = real + fake[: len(real) // 3]
    random.Random(c.seed).shuffle(rl_questions)
    rankings = _rankings(sft, chat, rl_questions[: c.rm_questions], labeler, c.seed)
    n_test = max(1, len(rankings) // 5)
    rm = RewardModel.from_policy(sft)
    rm_trainer = RewardModelTrainer(
        rm, rankings[n_test:], tok, chat.end_id, RewardConfig(c.rm_steps, 16, 1e-3, seed=c.seed)
    )
    records["reward_model"] = rm_trainer.train()
    rm_accuracy = rm_trainer.accuracy(rankings[:n_test])
    log(f"reward model: {len(rankings)} rankings, held-out pair accuracy {rm_accuracy:.1%}")

    by_prompt = {chat.text(q.messages) + "<|assistant|>": q for q in rl_questions}
    prompts = list(by_prompt)
    score = lambda prompt, reply: labeler.score(by_prompt[prompt], reply.removesuffix(END))
    ppo_config = PPOConfig(c.ppo_steps, 64, c.rl_lr, max_new_tokens=24, kl_coef=c.kl_coef, target_kl=1.0, seed=c.seed)
    ppo = PPOTrainer(copy.deepcopy(sft), rm, lambda rng: rng.choice(prompts), tok, chat.end_id, ppo_config, score)
    records["ppo"] = ppo.train()
    log(
        f"ppo: {c.ppo_steps} rollouts, true score {records['ppo'][0]['true_score']:+.2f} -> {records['ppo'][-1]['true_score']:+.2f}"
    )
    dpo = copy.deepcopy(sft)
    dpo_config = DPOConfig(c.dpo_steps, 32, c.rl_lr, beta=0.1, seed=c.seed)
    records["dpo"] = DPOTrainer(dpo, preference_pairs(rankings[n_test:]), tok, chat.end_id, dpo_config).train()

    models = {"base": base, "sft": sft, "ppo": ppo.policy.eval(), "dpo": dpo.eval()}
    return _finish(c, records, models, sft, chat, world, eval_names, tok_file, tmp, rm_accuracy)


def _finish(c, records, models, sft, chat, world, eval_names, tok_file, tmp, rm_accuracy) -> dict:
    """The report card of every model; the stage checkpoints and report_card.json when ``out_dir`` is set."""
    sets = question_sets(world, eval_names, c.n_eval, c.seed)
    card = assistant_card(models, sft, chat, sets, heldout_text(world, c), c.seed)
    for name in models:
        if name != "base":
            _save(c.out_dir, name, models[name], c, tok_file, {k: v for k, v in card[name].items() if k != "example"})
    if c.out_dir:
        text = json.dumps(
            {"config": dataclasses.asdict(c), "card": card, "rm_accuracy": rm_accuracy}, indent=1, ensure_ascii=False
        )
        atomic_write(Path(c.out_dir) / "report_card.json", lambda t: Path(t).write_text(text, encoding="utf-8"))
    tmp.cleanup()
    return {"records": records, "card": card, "rm_accuracy": rm_accuracy, "models": models, "chat": chat}
