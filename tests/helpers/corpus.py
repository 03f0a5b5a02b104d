"""A token directory prepared from a text written on the spot (what `minillm prepare` writes), for the
tests that train through the Trainer or the CLI."""

from minillm.data.tokens import prepare_tokens


def prepared_data_dir(tmp_path_factory, text: str, **prepare):
    """``text`` written to a file, then ``prepare_tokens`` (val_fraction 0.2 unless given) into a new directory."""
    src = tmp_path_factory.mktemp("src") / "corpus.txt"
    src.write_text(text, encoding="utf-8")
    out = tmp_path_factory.mktemp("data")
    prepare_tokens([str(src)], out, **{"val_fraction": 0.2, **prepare})
    return out
