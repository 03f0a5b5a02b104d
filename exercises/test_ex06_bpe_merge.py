"""Grades ex06_bpe_merge.py against minillm and hand-computed values."""

from _grader import load

from minillm.tokenizers import BPETokenizer

ex = load("ex06_bpe_merge")


def test_hand_examples():
    assert ex.most_frequent_pair([1, 2, 3, 1, 2]) == (1, 2)
    assert ex.most_frequent_pair([5, 6, 7, 8]) == (5, 6)  # all tied: the first
    assert ex.merge([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert ex.merge([1, 1, 1], (1, 1), 7) == [7, 1]  # non-overlapping, left to right


def test_three_merges_equal_minillm_bpe():
    text = "low lower lowest newest widest " * 3
    ids = list(text.encode())
    merges = []
    for new_id in range(256, 259):
        pair = ex.most_frequent_pair(ids)
        merges.append(pair)
        ids = ex.merge(ids, pair, new_id)
    tok = BPETokenizer(merges, pattern=r"(?s).+")  # one chunk: merges across spaces, like the loop above
    assert tok.encode(text) == ids
