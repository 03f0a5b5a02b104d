"""``minillm assistant``'s flags and handler (minillm/commands/assistant.py); the pipeline itself is
tests/rlhf/test_assistant.py and tests/integration/test_assistant.py, bad arguments test_cli.py's BAD table."""

from minillm.commands import assistant
from minillm.commands.cli import build_parser, main
from minillm.rlhf.assistant import AssistantConfig


def test_every_config_field_is_a_flag_and_reaches_the_pipeline(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(config):
        seen["config"] = config
        return {"card": {}, "rm_accuracy": 0.75}

    monkeypatch.setattr("minillm.rlhf.assistant.run_assistant", fake_run)
    monkeypatch.setattr("minillm.rlhf.report_card.format_card", lambda card: "CARD")
    argv = ["assistant", "--n-people", "7", "--no-rlhf", "--sft-lr", "0.002", "--out-dir", str(tmp_path / "run")]
    assert main(argv) == 0
    c = seen["config"]
    assert isinstance(c, AssistantConfig) and (c.n_people, c.rlhf, c.sft_lr) == (7, False, 0.002)
    out = capsys.readouterr().out
    assert "CARD" in out and "75.0%" in out and f"minillm chat --ckpt {tmp_path / 'run'}/sft" in out
    args = build_parser().parse_args(["assistant"])
    assert args.func is assistant.run and args.prog == "minillm assistant"
