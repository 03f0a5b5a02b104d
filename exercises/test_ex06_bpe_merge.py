"""Grades ex06_bpe_merge.py against minillm's BPE tokenizer and hand-computed values."""

from _grader import call, expect, load

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


def as_text(ids, pair, new_id):
    """The merge done as a string replace on the space-joined ids: it matches across digits (21 2 holds "1 2")."""
    text = " ".join(map(str, ids)).replace(f"{pair[0]} {pair[1]}", str(new_id))
    return [int(x) for x in text.split()]


def from_the_right(ids, pair, new_id):
    out = merge_with(ids[::-1], pair[::-1], new_id)
    return out[::-1]


def merge_mistakes(ids, pair, new_id) -> dict:
    return {
        "the ids were matched as text (a string replace on the joined ids?): merge([21, 2], (1, 2), 9) must not "
        "touch 21, because ids are whole numbers; compare (ids[i], ids[i + 1]) == pair": as_text(ids, pair, new_id),
        "the pairs were merged from the right: scan left to right, so [1, 1, 1] with (1, 1) gives [new, 1]": (
            from_the_right(ids, pair, new_id)
        ),
        "after replacing a pair, skip *both* of its ids (i += 2): yours goes on from the pair's second id, "
        "so it is used twice": merge_with(ids, pair, new_id, skip=1),
        "off by one at the end: the loop stops one id short, so the last id is lost (loop while i < len(ids))": (
            merge_with(ids, pair, new_id, stop=1)
        ),
        "off by one at the start: the first id is lost (start at index 0)": merge_with(ids, pair, new_id, start=1),
    }


def check_merge(ids, pair, new_id, want):
    what = f"merge({ids}, {pair}, {new_id})"
    got = call(what, ex.merge, list(ids), pair, new_id, hint="check i + 1 < len(ids) before reading ids[i + 1]")
    expect(got, want, what, merge_mistakes(ids, pair, new_id))


def most_frequent(ids):
    return call(f"most_frequent_pair({ids})", ex.most_frequent_pair, list(ids))


def test_most_frequent_pair_hand_examples():
    expect(most_frequent([1, 2, 3, 1, 2]), (1, 2), "most_frequent_pair([1, 2, 3, 1, 2])")
    expect(
        ex.most_frequent_pair([5, 6, 7, 8]),
        (5, 6),
        "most_frequent_pair([5, 6, 7, 8]) (all tied)",
        {
            "ties: keep the pair seen *first* (max over a Counter keeps insertion order; sorting does not)": (7, 8),
        },
    )
    expect(most_frequent([9, 1, 2, 0, 1, 2]), (1, 2), "most_frequent_pair([9, 1, 2, 0, 1, 2])")


def test_merge_hand_examples():
    check_merge([1, 2, 3, 1, 2], (1, 2), 9, [9, 3, 9])
    check_merge([1, 1, 1], (1, 1), 7, [7, 1])  # non-overlapping, left to right
    check_merge([3, 1, 2, 4], (1, 2), 9, [3, 9, 4])
    check_merge([5, 1, 2], (1, 2), 9, [5, 9])  # a pair at the very end
    check_merge([4], (1, 2), 9, [4])  # a single id


def test_merge_multi_digit_and_overlapping_ids():
    check_merge([21, 2], (1, 2), 9, [21, 2])  # "21 2" holds the text "1 2", but no pair (1, 2)
    check_merge([1, 21, 2, 1, 2], (1, 2), 300, [1, 21, 2, 300])
    check_merge([12, 3, 12, 3, 1, 23], (12, 3), 256, [256, 256, 1, 23])
    check_merge([1, 1, 1, 1], (1, 1), 7, [7, 7])  # overlapping occurrences: left to right, each id used once
    check_merge([5, 5, 5, 6], (5, 5), 260, [260, 5, 6])
    check_merge([2, 1, 2, 1, 2], (1, 2), 9, [2, 9, 9])


def test_three_merges_equal_minillm_bpe():
    text = "low lower lowest newest widest " * 3
    ids = list(text.encode())
    merges = []
    for new_id in range(256, 259):
        pair = call(f"most_frequent_pair(<{len(ids)} ids>)", ex.most_frequent_pair, list(ids))
        merges.append(pair)
        ids = call(f"merge(<{len(ids)} ids>, {pair}, {new_id})", ex.merge, list(ids), pair, new_id)
    tok = BPETokenizer(merges, pattern=r"(?s).+")  # one chunk: merges across spaces, like the loop above
    expect(ids, tok.encode(text), "the ids after three merges (compared with minillm's BPETokenizer)")
