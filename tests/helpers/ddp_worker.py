"""Run by tests/test_ddp.py under `torchrun --nproc_per_node=2`: train, then dump this rank's weights."""

import json
import sys

from safetensors.torch import save_file

from minillm.train import Trainer, TrainConfig

config = TrainConfig.from_dict(json.loads(sys.argv[1]))
trainer = Trainer(config, log=lambda *_: None)
trainer.train()
state = {k: v.contiguous() for k, v in trainer.model.state_dict().items() if k != "lm_head.weight"}
save_file(state, f"{config.out_dir}/rank{trainer.dist.rank}.safetensors")
if trainer.dist.is_main:
    with open(f"{config.out_dir}/losses.json", "w") as f:
        json.dump(trainer.loss_history, f)
trainer.close()
