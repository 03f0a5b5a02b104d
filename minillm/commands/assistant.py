"""``minillm assistant``: the tiny assistant end to end (report §1.2.2), then its report card.

World → tokenizer → pre-training → SFT → reward model → PPO / DPO (minillm/rlhf/assistant.py); one flag per
field of ``AssistantConfig``. Docs: docs/assistant.md.
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from minillm.rlhf.assistant import AssistantConfig
    from minillm.utils.configs import add_config_arguments

    add_config_arguments(p, AssistantConfig)  # one flag per field: --n-people, --augment/--no-augment, --quick, ...
    p.set_defaults(func=run, prog=p.prog)


def run(args) -> int:
    """Every stage, then the report card; the run's directory holds checkpoints to chat with."""
    from minillm.rlhf.assistant import AssistantConfig, run_assistant
    from minillm.rlhf.report_card import format_card
    from minillm.utils.configs import config_from_args

    config = config_from_args(AssistantConfig, args)  # every size checked before any work
    out = run_assistant(config)
    print(format_card(out["card"]))
    if out["rm_accuracy"] is not None:
        print(f"reward model held-out pair accuracy: {out['rm_accuracy']:.1%}")
    if config.out_dir:
        last = "ppo" if config.rlhf else "sft"
        print(f"wrote {config.out_dir}/report_card.json; chat with: minillm chat --ckpt {config.out_dir}/{last}")
    return 0
