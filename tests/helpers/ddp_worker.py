"""Run by tests/integration/test_ddp.py under `torchrun --nproc_per_node=2`: `minillm train <flags>` through the CLI's own
entry point, then this rank's final weights (and, on rank 0, the loss of every step) for the test to compare."""

import json
import sys

from safetensors.torch import save_file

import minillm.train
from minillm.commands.cli import main

trainers = []


class RecordingTrainer(minillm.train.Trainer):
    """The CLI's Trainer, kept so its model can be read after the run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        trainers.append(self)


minillm.train.Trainer = RecordingTrainer  # the CLI imports it from minillm.train when it runs
assert main(["train", *sys.argv[1:]]) == 0
trainer = trainers[0]
state = {k: v.contiguous() for k, v in trainer.model.state_dict().items() if k != "lm_head.weight"}
save_file(state, f"{trainer.out_dir}/rank{trainer.dist.rank}.safetensors")
if trainer.dist.is_main:
    with open(f"{trainer.out_dir}/losses.json", "w") as f:
        json.dump(trainer.loss_history, f)
