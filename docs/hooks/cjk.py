"""mkdocs hook: join source lines that break between two Chinese characters.

Markdown turns a line break inside a paragraph into a space, which is right between English words
and wrong between Chinese ones (`计算步骤、 多头注意力`). The chapters keep their short source lines;
this hook removes the break (and the indentation of the continuation line) where both sides are
CJK characters or full-width punctuation, outside code fences, headings and tables.
"""

import re

# CJK ideographs, CJK symbols and punctuation, full-width forms.
_CJK = "\u2e80-\u2fff\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_FULLWIDTH_PUNCT = "\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_ENDS_CJK = re.compile(f"[{_CJK}]$")
_STARTS_CJK = re.compile(f"^[{_CJK}]")
_ENDS_PUNCT = re.compile(f"[{_FULLWIDTH_PUNCT}]$")
_STARTS_PUNCT = re.compile(f"^[{_FULLWIDTH_PUNCT}]")
_FENCE = re.compile(r"^\s*(```|~~~)")
_NO_JOIN_PREV = re.compile(r"^\s*(#|\||!!!|\?\?\?|<|\$\$)")
# A line that starts a block of its own (list item, heading, table, quote, math, image, HTML).
_BLOCK_START = re.compile(r"^([-*+]\s|\d+[.)]\s|#|\||>|!!!|\?\?\?|\$\$|<|!\[)")
_EMPHASIS = "*_~"


# A space between a Chinese link text and the Chinese text around it: "[术语表](glossary.md) 并列".
_SPACE_AFTER_LINK = re.compile(f"(\\[[^\\]]*[{_CJK}]\\]\\([^)\\s]*\\)) +(?=[{_CJK}])")
_SPACE_BEFORE_LINK = re.compile(f"(?<=[{_CJK}]) +(?=\\[[{_CJK}])")


def _tighten_links(line: str) -> str:
    return _SPACE_BEFORE_LINK.sub("", _SPACE_AFTER_LINK.sub(r"\1", line))


def _joins(prev: str, nxt: str) -> bool:
    """True when the break between `prev` and `nxt` (both stripped) should vanish."""
    if not prev or not nxt or _BLOCK_START.match(nxt):
        return False
    prev, nxt = prev.rstrip(_EMPHASIS), nxt.lstrip(_EMPHASIS + "[")  # **强调**, [链接](…) count as their text
    both_cjk = _ENDS_CJK.search(prev) and _STARTS_CJK.search(nxt)
    # A full-width mark on either side of the break never wants a space next to it ("，\nPyTorch").
    punct = _ENDS_PUNCT.search(prev) or (_STARTS_PUNCT.search(nxt) and not nxt.startswith("\u3000"))
    return bool(both_cjk or punct)


def join_cjk_lines(markdown: str) -> str:
    out: list[str] = []
    in_fence = False
    can_continue = False  # the previous line is paragraph text that a next line may continue
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            can_continue = False
            continue
        if not in_fence:
            line = _tighten_links(line)
        stripped = line.strip()
        if not in_fence and can_continue and _joins(out[-1].rstrip(), stripped):
            out[-1] = out[-1].rstrip() + stripped
            continue
        out.append(line)
        can_continue = not in_fence and bool(stripped) and not _NO_JOIN_PREV.match(line)
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    return join_cjk_lines(markdown)
