"""Grades ex06_bpe_merge.py against minillm's BPE tokenizer and hand-computed values."""

from _grader import expect, load

from minillm.tokenizers import BPETokenizer

ex = load("ex06_bpe_merge")


def merge_with(ids, pair, new_id, skip=2, stop=0, start=0):
    """The merge loop with the usual slips: ``skip`` ids after a match, ``stop`` short of the end, from ``start``."""
    out, i = [], start
    while i < len(ids) - stop:
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += skip
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_mistakes(ids, pair, new_id) -> dict:
    return {
        "after replacing a pair, skip *both* of its ids (i += 2): yours goes on from the pair's second id, "
        "so it is used twice": merge_with(ids, pair, new_id, skip=1),
        "off by one at the end: the loop stops one id short, so the last id is lost (loop while i < len(ids))": (
            merge_with(ids, pair, new_id, stop=1)
        ),
        "off by one at the start: the first id is lost (start at index 0)": merge_with(ids, pair, new_id, start=1),
    }


def check_merge(ids, pair, new_id, want):
    expect(ex.merge(ids, pair, new_id), want, f"merge({ids}, {pair}, {new_id})", merge_mistakes(ids, pair, new_id))


def test_most_frequent_pair_hand_examples():
    expect(ex.most_frequent_pair([1, 2, 3, 1, 2]), (1, 2), "most_frequent_pair([1, 2, 3, 1, 2])")
    expect(
        ex.most_frequent_pair([5, 6, 7, 8]),
        (5, 6),
        "most_frequent_pair([5, 6, 7, 8]) (all tied)",
        {
            "ties: keep the pair seen *first* (max over a Counter keeps insertion order; sorting does not)": (7, 8),
        },
    )
    expect(ex.most_frequent_pair([9, 1, 2, 0, 1, 2]), (1, 2), "most_frequent_pair([9, 1, 2, 0, 1, 2])")


def test_merge_hand_examples():
    check_merge([1, 2, 3, 1, 2], (1, 2), 9, [9, 3, 9])
    check_merge([1, 1, 1], (1, 1), 7, [7, 1])  # non-overlapping, left to right
    check_merge([3, 1, 2, 4], (1, 2), 9, [3, 9, 4])
    check_merge([5, 1, 2], (1, 2), 9, [5, 9])  # a pair at the very end
    check_merge([4], (1, 2), 9, [4])  # a single id


def test_three_merges_equal_minillm_bpe():
    text = "low lower lowest newest widest " * 3
    ids = list(text.encode())
    merges = []
    for new_id in range(256, 259):
        pair = ex.most_frequent_pair(ids)
        merges.append(pair)
        ids = ex.merge(ids, pair, new_id)
    tok = BPETokenizer(merges, pattern=r"(?s).+")  # one chunk: merges across spaces, like the loop above
    expect(ids, tok.encode(text), "the ids after three merges (compared with minillm's BPETokenizer)")
