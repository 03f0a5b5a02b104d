"""The `minillm` command: one dispatcher, one-line user errors, flags built from the config dataclasses."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import fields

import pytest
from helpers.corpus import prepared_data_dir

from minillm.commands.cli import UsageError, build_parser, main
from minillm.models import GPTConfig
from minillm.train import TrainConfig

TEXT = "the cat sat on the mat. " * 60  # no newline anywhere: the default sample prompt must still work


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepared_data_dir(tmp_path_factory, TEXT, tokenizer="char")


TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "8", "--batch-size", "4"]
TINY += ["--max-steps", "1", "--warmup-steps", "0", "--eval-iters", "1", "--sample-tokens", "2", "--no-progress"]


# Every subcommand, each with a bad argument: argparse's own complaints and minillm's ValueErrors alike.
BAD = [
    (["info", "--verbose"], "minillm info"),
    (["params", "gpt5"], "minillm params"),
    (["costs"], "minillm costs"),
    (["costs", "report", "--scale", "x"], "minillm costs report"),
    (["costs", "check", "--device", "tpu"], "minillm costs check"),
    (["bench"], "minillm bench"),
    (["bench", "attention", "--lengths", "abc"], "minillm bench attention"),
    (["bench", "attention", "--backends", "nosuch", "--lengths", "8"], "minillm bench attention"),
    (["bench", "components", "--repeats", "0"], "minillm bench components"),
    (["bench", "components", "--n-embd", "30", "--n-head", "4"], "minillm bench components"),
    (["bench", "train", "--modes", "fast"], "minillm bench train"),
    (["bench", "train", "--block-size", "-1"], "minillm bench train"),
    (["bench", "gpu", "--parts", "nosuch", "--dry-run"], "minillm bench gpu"),
    (["kernels"], "minillm kernels"),
    (["kernels", "compile", "--arch", "sm_75"], "minillm kernels compile"),
    (["rlhf", "--sft-steps", "-5"], "minillm rlhf"),
    (["rlhf", "--sft-steps", "abc"], "minillm rlhf"),
    (["demo", "nosuch"], "minillm demo"),
    (["demo", "--lengths", "1,x"], "minillm demo"),
    (["prepare"], "minillm prepare"),
    (["prepare", "{tmp}/missing.txt", "--out", "{tmp}/out"], "minillm prepare"),
    (["train", "--n-layer", "abc"], "minillm train"),
    (["train", "--lr", "inf"], "minillm train"),
    (["train", "--data-dir", "{tmp}/nowhere", "--out-dir", "{tmp}/out"], "minillm train"),
    (["sample"], "minillm sample"),
    (["sample", "--ckpt", "{tmp}/nowhere"], "minillm sample"),
    (["explain", "--ckpt", "{tmp}", "--prompt", "x", "--out", "{tmp}/out/page.html"], "minillm explain"),
    (["explain", "--ckpt", "{tmp}/nowhere", "--prompt", "", "--out", "{tmp}/out/page.html"], "minillm explain"),
    (["explain", "--ckpt", "{tmp}/nowhere", "--prompt", "x", "--out", "{tmp}/p.html", "--top-p", "0"], "minillm explain"),
    (["assistant", "--n-people", "0", "--out-dir", "{tmp}/out"], "minillm assistant"),
    (["assistant", "--n-people", "abc"], "minillm assistant"),
    (["chat", "--ckpt", "{tmp}/nowhere"], "minillm chat"),
    (["eval", "--ckpt", "{tmp}/nowhere"], "minillm eval"),
    (["eval", "--ckpt", "{tmp}/nowhere", "--world", "--json", "{tmp}/out/card.json"], "minillm eval"),
    (["nosuch"], "minillm"),
]


@pytest.mark.parametrize("argv, prog", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_argument_is_one_line_and_exit_2(argv, prog, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"{prog}: error: ") and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written on bad input


def _commands(parser, prefix=()):
    """Every command path the parser knows, e.g. ("bench", "attention")."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


def test_every_subcommand_has_a_bad_argument_case():
    """A new subcommand must join BAD above, so that its errors are checked too."""
    paths = list(_commands(build_parser()))
    assert {"train", "bench attention", "rlhf"} <= {" ".join(p) for p in paths}  # the walk finds commands
    missing = [" ".join(p) for p in paths if not any(tuple(argv[: len(p)]) == p for argv, _ in BAD)]
    assert not missing, f"add a bad-argument case to BAD for: {missing}"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match=r"lr=inf"):
        main(["--debug", "train", "--lr", "inf"])
    with pytest.raises(UsageError, match="invalid int value"):
        main(["--debug", "train", "--n-layer", "abc"])
    run = subprocess.run(
        [sys.executable, "-m", "minillm", "--debug", "bench", "attention", "--backends", "nosuch"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and "Traceback" in run.stderr and "unknown backend 'nosuch'" in run.stderr
    argv = [sys.executable, "-m", "minillm", "train", "--n-layer", "abc"]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert run.returncode == 2 and run.stderr == "minillm train: error: argument --n-layer: invalid int value: 'abc'\n"


def test_cli_info_and_params(capsys):
    assert main(["params", "gpt2"]) == 0
    assert "124,439,808" in capsys.readouterr().out
    assert main(["info"]) == 0
    assert "minillm/nn/attention.py" in capsys.readouterr().out


# -- minillm train: flags from TrainConfig and the GPTConfig it holds ---------------------------
def train_config(argv) -> TrainConfig:
    return TrainConfig.from_args(build_parser().parse_args(["train", *argv]))


def test_every_model_field_but_vocab_size_is_a_train_flag():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {opt for a in train._actions for opt in a.option_strings}
    for f in fields(GPTConfig):
        assert (("--" + f.name.replace("_", "-")) in flags) is (f.name != "vocab_size"), f.name
    cfg = train_config(["--pos-embedding", "sinusoidal", "--dropout", "0.1", "--n-layer", "3", "--no-bias"])
    assert (cfg.model.pos_embedding, cfg.model.dropout, cfg.model.n_layer, cfg.model.bias) == (
        "sinusoidal",
        0.1,
        3,
        False,
    )
    assert train_config([]) == TrainConfig()  # no flag given: every default


def test_explicit_flag_beats_config_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"n_layer": 1, "lr": 0.01, "compile": True}))
    cfg = train_config(["--n-layer", "4", "--config", str(path), "--no-compile"])  # 4 is also the default
    assert (cfg.model.n_layer, cfg.lr, cfg.compile) == (4, 0.01, False)


def test_rlhf_flags_come_from_pipeline_config(tmp_path, capsys):
    from minillm.rlhf import PipelineConfig
    from minillm.utils.configs import config_from_args

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"sft_steps": 5, "kl_coef": 0.5}))
    args = build_parser().parse_args(["rlhf", "--config", str(path), "--sft-steps", "600", "--no-quick"])
    assert config_from_args(PipelineConfig, args) == PipelineConfig(sft_steps=600, kl_coef=0.5)  # 600: the default
    path.write_text(json.dumps({"kl_coef": "0.5"}))
    assert main(["rlhf", "--config", str(path)]) == 2
    assert "kl_coef='0.5' is not a valid float" in capsys.readouterr().err


def test_explicit_flag_beats_config_file_in_the_trained_model(data_dir, tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"n_layer": 2, "n_embd": 32}))
    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(data_dir), "--out-dir", str(out), *TINY, "--config", str(path)]
    assert main(argv) == 0  # TINY says --n-layer 1 and --n-embd 16: they win over the file
    state = json.loads((out / "ckpt-0000001" / "state.json").read_text())
    assert (state["configs"]["model"]["n_layer"], state["configs"]["model"]["n_embd"]) == (1, 16)
    assert "done: step 1" in capsys.readouterr().out  # and the default "\n" prompt did not stop a newline-free corpus


@pytest.mark.parametrize(
    "values, match",
    [
        ({"bias": "false"}, r"bias='false' is not a valid bool"),
        ({"lr": "0.1"}, r"lr='0.1' is not a valid float"),
        ({"n_layer": 2.5}, r"n_layer=2.5 is not a valid int"),
        ({"compile": 1}, r"compile=1 is not a valid bool"),
        ({"lr": float("inf")}, r"lr=inf is not a valid float"),
        ({"dropout": float("nan")}, r"dropout=nan is not a valid float"),
        ({"learning_rate": 0.1, "vocab_size": 9}, r"unknown key\(s\) \['learning_rate', 'vocab_size'\]"),
    ],
)
def test_config_file_errors_name_the_key(values, match, tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(values))  # Python's json writes inf/nan as Infinity/NaN
    assert main(["train", "--config", str(path), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(path) in err
    assert __import__("re").search(match, err), err


@pytest.mark.parametrize("flag", ["--lr", "--min-lr", "--dropout", "--beta1", "--grad-clip", "--weight-decay"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_flags_refused(flag, value, capsys):
    assert main(["train", f"{flag}={value}"]) == 2
    assert f"{flag[2:].replace('-', '_')}={value}" in capsys.readouterr().err


def test_sample_uses_the_trained_run(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(data_dir), "--out-dir", str(out), *TINY]) == 0
    capsys.readouterr()
    assert main(["sample", "--ckpt", str(out), "--max-new-tokens", "5"]) == 0  # default prompt: not in the vocab
    assert f"--- sample 1 of {out} ---" in capsys.readouterr().out
    assert main(["sample", "--ckpt", str(out), "--prompt", "€"]) == 2
    assert "cannot be encoded" in capsys.readouterr().err
    (out / "ckpt-0000001" / "tokenizer.json").unlink()
    assert main(["sample", "--ckpt", str(out)]) == 2
    assert "tokenizer.json" in capsys.readouterr().err  # the checkpoint lists it: incomplete without it


def test_a_closed_pipe_is_not_an_error():
    """`minillm costs report | head -1`: the reader leaves before the report is written; exit 0, no error."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "minillm", "costs", "report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""
