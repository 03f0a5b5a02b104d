"""ex06 with a dict of counts and first positions, and a merge that looks back at the last id written."""


def most_frequent_pair(ids):
    counts, first = {}, {}
    for i in range(len(ids) - 1):
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
        first.setdefault(pair, i)
    if not counts:
        raise ValueError("need two ids")
    return min(counts, key=lambda pair: (-counts[pair], first[pair]))


def merge(ids, pair, new_id):
    out, just_merged = [], False
    for x in ids:
        if out and not just_merged and (out[-1], x) == pair:
            out[-1] = new_id
            just_merged = True
        else:
            out.append(x)
            just_merged = False
    return out
