"""Corpora already on the machine (minillm/data/corpus.py): the Python docs text, offline and cut to size."""

from minillm.data import python_docs_text


def test_python_docs_text_is_offline_and_cut():
    text = python_docs_text(max_chars=1000)
    assert len(text) == 1000 and "the" in text
