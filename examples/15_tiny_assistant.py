"""Example 15 — a tiny assistant, end to end on a laptop: knowledge, instructions, preferences, chat.

Report §1.2.2 tells one arc: pre-training gives knowledge, instruction tuning makes the model answer,
a reward model from rankings plus PPO aligns it with what people prefer. Here the whole arc runs from
nothing on a CPU, on a synthetic world whose every fact is known (Allen-Zhu & Li 2023, "Physics of
Language Models, Part 3.1"), so every stage is measured on held-out data:

  1. a world of people with biographies in English and Chinese (minillm/data/world.py);
  2. a byte-level BPE with the chat tokens (minillm/tokenizers/chat.py);
  3. pre-training on the biographies; 4. SFT on questions about half of the people;
  5. a reward model from the world labeler's rankings; 6. PPO with a KL penalty, and DPO;
  7. the report card: exact match on tuned people, held-out people, held-out phrasings and across
     languages; hallucination on made-up people; over-refusal; KL to SFT; bits per byte.

Then the same pre-training and SFT *without* biography augmentation (one biography per person,
repeated as often): the paper's finding is that held-out people are then near chance.

    python examples/15_tiny_assistant.py            # the full run (~28 min on 2 idle cores)
    python examples/15_tiny_assistant.py --quick    # a smoke run for the tests (~2 min)
    minillm chat --ckpt out/15_assistant/sft         # talk to it (the SFT model: RLHF does not help yet)

Every flag but --compare/--no-compare is a field of minillm.rlhf.assistant.AssistantConfig
(``minillm assistant`` runs the same stages). Writes checkpoints and report_card.json under --out-dir.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from minillm.commands.chat import ChatSession
from minillm.rlhf.assistant import AssistantConfig, run_assistant
from minillm.rlhf.report_card import ROWS, format_card
from minillm.utils.configs import add_config_arguments, config_from_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

CONVERSATION = {  # what the docs show: a held-out person in both languages, then a made-up one
    "en": "Where was {name} born?",
    "zh": "{name}出生在哪里？",
}


def converse(model, chat, people, made_up) -> list[tuple[str, str]]:
    """A short conversation with ``model``: two questions about a held-out person, one about a made-up one."""
    session = ChatSession(model, chat, max_new_tokens=24)
    person = next(p for p in people if len(p.languages) == 2)
    asked = [CONVERSATION["en"].format(name=person.name_en), CONVERSATION["zh"].format(name=person.name_zh),
             CONVERSATION["en"].format(name=made_up[0])]  # fmt: skip
    return [(q, "".join(session.reply(q)).strip()) for q in asked]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(p, AssistantConfig)
    p.add_argument("--compare", action=argparse.BooleanOptionalAction, default=None,
                   help="also run pre-training + SFT without augmentation (default: on, off with --quick)")  # fmt: skip
    args = p.parse_args(argv)
    if args.out_dir is None:
        args.out_dir = "out/15_assistant"
    c = config_from_args(AssistantConfig, args)
    compare = (not c.quick) if args.compare is None else args.compare
    start = time.time()
    out = run_assistant(c)
    seconds = time.time() - start
    card = out["card"]
    print()
    print(format_card(card))
    if out["rm_accuracy"] is not None:  # None with --no-rlhf: no reward model was trained
        print(f"reward model held-out pair accuracy: {out['rm_accuracy']:.1%}")
    print(f"pipeline {seconds:.0f} s")

    from minillm.data.world import make_world
    from minillm.rlhf.assistant import made_up_names

    world = make_world(c.n_people, c.seed)
    last = "ppo" if "ppo" in out["models"] else "sft"
    print(f"\na conversation with the {last.upper()} model", end=" ")
    print("(held-out person, in English and Chinese; then a made-up person):")
    dialogue = converse(out["models"][last], out["chat"], world.held_out, [n[0] for n in made_up_names(world, c)[2]])
    for q, a in dialogue:
        print(f"  you> {q}\n  assistant> {a}")

    figures = {"card": card, "rm_accuracy": out["rm_accuracy"], "seconds": seconds, "dialogue": dialogue}
    if compare:
        plain = config_from_args(AssistantConfig, args)
        plain.augment, plain.rlhf, plain.out_dir = False, False, ""
        start = time.time()
        without = run_assistant(plain)["card"]["sft"]
        figures["without_augmentation"] = without
        print(f"\nwithout augmentation ({time.time() - start:.0f} s): held-out people "
              f"{without['em_held_out_people']:.1%} vs {card['sft']['em_held_out_people']:.1%} with it (SFT model)")  # fmt: skip

    columns = ["figure", *card]
    rows = [[label, *(fmt.format(card[m][key]) for m in card)] for key, label, fmt in ROWS]
    write_results("15", columns, rows, seed=c.seed, quick=c.quick, figures=figures)
    return figures


if __name__ == "__main__":
    main()
