"""``minillm explain`` end to end on a trained run (minillm/commands/explain.py); its bad-argument cases are in
tests/commands/test_cli.py's BAD table with every other command's."""

import pytest
from helpers.corpus import prepared_data_dir

from minillm.commands.cli import main

TEXT = "the cat sat on the mat. " * 60
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "8", "--batch-size", "4"]
TINY += ["--max-steps", "1", "--warmup-steps", "0", "--eval-iters", "1", "--sample-tokens", "2", "--no-progress"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepared_data_dir(tmp_path_factory, TEXT, tokenizer="char")


def test_explain_writes_one_page_from_the_run(data_dir, tmp_path, capsys):
    from minillm.explain import read_page

    out, page = tmp_path / "run", tmp_path / "pages" / "page.html"
    assert main(["train", "--data-dir", str(data_dir), "--out-dir", str(out), *TINY]) == 0
    capsys.readouterr()
    assert main(["explain", "--ckpt", str(out), "--prompt", "the cat", "--out", str(page), "--top-k", "3"]) == 0
    assert f"wrote {page}" in capsys.readouterr().out
    seen = read_page(page)
    assert [t["text"] for t in seen["data"]["tokens"]] == list("the cat")
    assert seen["maps"]["self-attention"].shape == (1, 2, 7, 7) and seen["data"]["sampling"]["top_k"] == 3
    for prompt, words in (
        ("€", "cannot be encoded"),
        ("the cat sat", "11 tokens long but the model's context holds 8"),
    ):
        assert main(["explain", "--ckpt", str(out), "--prompt", prompt, "--out", str(tmp_path / "x.html")]) == 2
        assert words in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
