"""TrainConfig (minillm/train/config.py): validation with messages that name the field, the CLI round
trip, and the model's config composed into the run's (flat names, one per field)."""

import argparse

import pytest

from minillm.train import TrainConfig


def test_config_validation_and_cli_round_trip():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['n_layers'\]"):
        TrainConfig.from_dict({"n_layers": 3})
    with pytest.raises(ValueError, match="not divisible by grad_accum"):
        TrainConfig(batch_size=6, grad_accum=4)
    parser = argparse.ArgumentParser()
    TrainConfig.add_arguments(parser)
    cfg = TrainConfig.from_args(parser.parse_args(["--n-layer", "3", "--lr", "0.01", "--no-bias", "--compile"]))
    assert (cfg.model.n_layer, cfg.lr, cfg.model.bias, cfg.compile) == (3, 0.01, False, True)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_train_config_composes_the_model_config():
    from dataclasses import fields

    from minillm.models import GPTConfig

    flags = set(TrainConfig().to_dict())
    assert {f.name for f in fields(GPTConfig)} - flags == {"vocab_size"}  # every model field but the data's
    cfg = TrainConfig.from_dict({"activation": "relu", "pos_embedding": "sinusoidal", "n_layer": 1})
    fields_ = {k: v for k, v in TrainConfig().model.to_dict().items() if k != "family"}
    assert cfg.model == GPTConfig(**{**fields_, "activation": "relu", "pos_embedding": "sinusoidal", "n_layer": 1})
    for bad, match in [
        ({"bias": "false"}, r"bias='false' is not a valid bool"),
        ({"lr": float("inf")}, r"lr=inf is not a valid float"),
        ({"dropout": float("nan")}, r"dropout=nan is not a valid float"),
        ({"n_layer": 2.0}, r"n_layer=2.0 is not a valid int"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig.from_dict(bad)
    with pytest.raises(ValueError, match=r"TrainConfig: grad_clip=nan"):
        TrainConfig(grad_clip=float("nan"))
    with pytest.raises(ValueError, match=r"GPTConfig: dropout=inf"):
        TrainConfig(model=GPTConfig(dropout=float("inf")))
