"""The Trainer tests' tiny run: a short mixed English and Chinese text, a small TrainConfig over a
directory prepared from it (flat names), and a log that prints nothing."""

from minillm.train import TrainConfig

TEXT = "The quick brown fox jumps over the lazy dog. 自注意力机制 lets every token look at every other.\n" * 40


def tiny(data_dir, out_dir, **kw) -> TrainConfig:
    base = dict(
        data_dir=str(data_dir),
        out_dir=str(out_dir),
        n_layer=2,
        n_head=2,
        n_embd=32,
        block_size=16,
        batch_size=8,
        grad_accum=2,
        max_steps=20,
        warmup_steps=4,
        lr=3e-3,
        min_lr=3e-4,
        dropout=0.1,
        log_interval=1,
        eval_interval=10,
        eval_iters=2,
        checkpoint_interval=10,
        sample_tokens=8,
        progress=False,
    )
    return TrainConfig.from_dict({**base, **kw})  # flat names: the model's fields beside the run's


def quiet(*_):
    pass
