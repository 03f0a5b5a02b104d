"""Run by tests/integration/test_parallel.py under `torchrun --nproc_per_node=2`: `minillm train <flags>`
whose rank 1 fails at step 3 (a patched ``Trainer.train_step``), to see that the run ends, with one line."""

import os
import sys

import minillm.train
from minillm.commands.cli import main

if os.environ.get("RANK") == "1":
    real_step = minillm.train.Trainer.train_step

    def failing_step(self):
        if self.step == 3:
            raise RuntimeError("simulated device failure at step 3")
        return real_step(self)

    minillm.train.Trainer.train_step = failing_step

sys.exit(main(["train", *sys.argv[1:]]))
