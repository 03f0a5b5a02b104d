"""The docs site as a reader gets it: fenced code includes, typeset math, two real languages.

Source checks read docs/*.md; site checks build the site once (strict) and read the HTML.
"""

import html
import importlib.util
import json
import posixpath
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(p for p in (ROOT / "docs").rglob("*.md"))
ZH_CHAPTERS = sorted(p.stem for p in (ROOT / "docs" / "zh").glob("*.md"))
FENCE = re.compile(r"^\s*(```|~~~)")
CJK = "\u3400-\u4dbf\u4e00-\u9fff"

_spec = importlib.util.spec_from_file_location("cjk_hook", ROOT / "docs" / "hooks" / "cjk.py")
_hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hook)
join_cjk_lines = _hook.join_cjk_lines


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _outside_fences(text: str):
    """(line number, line) of every line that is not inside a fenced code block."""
    in_fence = False
    for i, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield i, line


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_code_includes_are_fenced(doc):
    """A `--8<--` include of source code outside a fence renders as run-on prose (the snippet
    extension pastes raw text). Only a whole Markdown file (exercises/README.md) may stand bare."""
    bare = [
        f"{_rel(doc)}:{i}: {line.strip()}"
        for i, line in _outside_fences(doc.read_text(encoding="utf-8"))
        if "--8<--" in line and not re.search(r'--8<-- "[^"]+\.md"', line)
    ]
    assert not bare, "code include outside a ```python fence:\n" + "\n".join(bare)


# Unicode math in a code span is a formula set as code: write it as $...$ so the site typesets it.
UNICODE_MATH = re.compile(r"`[^`\n]*(Σ|√|ᵀ|σ\(|π_|∑|⊙)[^`\n]*`")


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_formulas_are_math_not_code(doc):
    found = [
        f"{_rel(doc)}:{i}: {m.group(0)}"
        for i, line in _outside_fences(doc.read_text(encoding="utf-8"))
        for m in UNICODE_MATH.finditer(line)
    ]
    assert not found, "formula in a code span (use $...$):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("计算步骤、\n多头注意力", "计算步骤、多头注意力"),  # full-width mark, then a character
        ("自注意力\n  机制", "自注意力机制"),  # continuation indentation dropped
        ("见下文，\nPyTorch 的实现", "见下文，PyTorch 的实现"),  # no space after a full-width comma
        ("使用 PyTorch\n的实现", "使用 PyTorch\n的实现"),  # Latin then Chinese: the space stays
        ("English line\nnext line", "English line\nnext line"),
        ("```\n中\n文\n```", "```\n中\n文\n```"),  # code is left alone
        ("# 标题\n正文", "# 标题\n正文"),  # a heading never swallows the next line
        ("| 表 |\n| 格 |", "| 表 |\n| 格 |"),
        ("段落一\n\n段落二", "段落一\n\n段落二"),
        ("第一项。\n- 第二项", "第一项。\n- 第二项"),
        ("[报告对照表](report-map.md) 列出", "[报告对照表](report-map.md)列出"),  # Chinese link text, Chinese after
        ("见 [术语表](g.md)", "见[术语表](g.md)"),
        (
            "见 [glossary](g.md) 一页",
            "见 [glossary](g.md) 一页",
        ),  # English link text keeps its spaces  # a list item starts its own block
        ("注意力是加权\n**求和**", "注意力是加权**求和**"),  # emphasis counts as its text
    ],
)
def test_cjk_hook_joins_only_between_chinese_characters(source, expected):
    assert join_cjk_lines(source) == expected


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocs_static_i18n")
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def _page(site: Path, lang: str, chapter: str) -> str:
    name = "" if chapter == "index" else f"{chapter}/"
    prefix = "zh/" if lang == "zh" else ""
    return (site / f"{prefix}{name}index.html").read_text(encoding="utf-8")


def _blocks(page: str) -> list[str]:
    """The text of each paragraph, list item, table cell and heading of the article, without code
    and math (where spaces are meant), tags stripped."""
    article = re.search(r"<article.*?</article>", page, re.DOTALL).group(0)
    article = re.sub(r"<(pre|code|script|style)\b.*?</\1>", "x", article, flags=re.DOTALL)
    article = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', "x", article, flags=re.DOTALL)
    blocks = re.findall(r"<(p|li|td|th|h[1-6])\b[^>]*>(.*?)</\1>", article, flags=re.DOTALL)
    return [html.unescape(re.sub(r"<[^>]+>", "", body)) for _, body in blocks]


@pytest.mark.parametrize("chapter", ZH_CHAPTERS)
def test_each_language_has_its_lang_attribute_interface_and_switch(site, chapter):
    zh, en = _page(site, "zh", chapter), _page(site, "en", chapter)
    assert '<html lang="zh"' in zh and '<html lang="en"' in en
    assert 'placeholder="搜索"' in zh and 'placeholder="Search"' in en  # the interface, not only the text
    # The switch leads to the same chapter in the other language, not to its home page.
    here = {"en": "/" if chapter == "index" else f"/{chapter}/"}
    here["zh"] = "/zh" + here["en"]
    for lang, page, other in (("zh", zh, "en"), ("en", en, "zh")):
        href = re.search(f'<a href="([^"]*)" hreflang="{other}"', page).group(1)
        assert not href.startswith("/"), (chapter, lang, href)  # relative: works from a sub-path or from disk
        assert posixpath.normpath(posixpath.join(here[lang], href)) == here[other].rstrip("/") or "/", (
            chapter,
            lang,
            href,
        )


@pytest.mark.parametrize("chapter", ZH_CHAPTERS)
def test_no_space_between_chinese_characters(site, chapter):
    stray = [
        m for text in _blocks(_page(site, "zh", chapter)) for m in re.findall(f"[{CJK}，。、；：）]\\s+[{CJK}（]", text)
    ]
    assert not stray, stray[:10]


def test_chinese_headings_get_readable_anchors(site):
    page = _page(site, "zh", "transformer")
    ids = re.findall(r'<h2 id="([^"]+)"', page)
    assert ids and not [i for i in ids if re.fullmatch(r"_\d*", i)], ids


def test_search_index_holds_chinese_words(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    separator = re.compile(index["config"]["separator"])
    words = {w for doc in index["docs"] if doc["location"].startswith("zh/") for w in separator.split(doc["text"])}
    assert {"注意力", "奖励", "模型"} <= words  # whole words, not whole paragraphs


def test_math_and_diagrams_render_offline(site):
    rlhf = _page(site, "en", "rlhf")
    assert '<div class="arithmatex">' in rlhf and '<span class="arithmatex">' in rlhf
    for lang in ("en", "zh"):
        assert '<pre class="mermaid"><code>' in _page(site, lang, "transformer"), lang
    for asset in (
        "assets/vendor/katex/katex.min.js",
        "assets/vendor/katex/fonts/KaTeX_Main-Regular.woff2",
        "assets/vendor/mermaid/mermaid.min.js",
    ):
        assert (site / asset).is_file(), asset
    scripts = re.findall(r'<script src="([^"]+)"', rlhf)
    assert scripts and not [s for s in scripts if s.startswith(("http:", "https:", "//"))], scripts


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_include_marker_reaches_a_page(site, lang):
    for chapter in ZH_CHAPTERS:
        assert "--8&lt;--" not in _page(site, lang, chapter) and "--8<--" not in _page(site, lang, chapter), chapter


def test_included_code_is_highlighted_on_the_page(site):
    """A fenced include reaches the page as highlighted code: the source's own lines, inside <pre>."""
    for lang in ("en", "zh"):
        page = _page(site, lang, "training")
        code = [re.sub(r"<[^>]+>", "", block) for block in re.findall(r"<pre\b.*?</pre>", page, flags=re.DOTALL)]
        assert any("def train_step" in c for c in code), lang
        assert any("def cosine_lr" in c for c in code), lang


def test_links_to_a_section_land_on_it(site):
    """Every in-site link with a #fragment finds an element with that id on its target page; the
    bilingual glossary links both languages' chapters, so their headings share these ids."""
    missing = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        article = re.search(r"<article.*?</article>", text, re.DOTALL)
        for href in re.findall(r'href="([^":]*)#([^"]+)"', article.group(0) if article else ""):
            target = (page.parent / href[0]).resolve() if href[0] else page
            if target.is_dir():
                target = target / "index.html"
            frag = urllib.parse.unquote(html.unescape(href[1]))
            if not target.is_file() or f'id="{frag}"' not in target.read_text(encoding="utf-8"):
                missing.append(f"{page.relative_to(site)} -> {href[0]}#{frag}")
    assert not missing, "\n".join(missing[:20])
