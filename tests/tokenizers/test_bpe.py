"""Character and byte-level BPE tokenizers: exact round trips, merges by hand, files, errors."""

import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minillm.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from minillm.tokenizers.bpe import GPT2_DIGITS3_PATTERN, MINILLM_V1_PATTERN, SPLIT_PATTERN, compile_pattern

CORPUS = (
    "The Transformer uses self-attention. 自注意力机制可以获取输入序列的全局信息。"
    "Multi-head attention splits the model into heads; 多头自注意力. low lower lowest newer wider "
) * 20


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(CORPUS, vocab_size=300, special_tokens=["<|endoftext|>", "<pad>"])


@given(st.text())
def test_bpe_round_trips_any_unicode(text):
    tok = _BPE
    assert tok.decode(tok.encode(text, allow_special=False)) == text


@given(st.text())
def test_split_pattern_covers_every_character(text):
    for pattern in (SPLIT_PATTERN, GPT2_DIGITS3_PATTERN, MINILLM_V1_PATTERN):
        assert "".join(compile_pattern(pattern).findall(text)) == text


@given(st.text())
def test_char_round_trip(text):
    tok = CharTokenizer.from_text(text + "x")
    assert tok.decode(tok.encode(text)) == text


_BPE = BPETokenizer.train(CORPUS, vocab_size=400, special_tokens=["<|endoftext|>"])


def test_bpe_learns_the_most_frequent_pair_first():
    # Chunks: "ab", " ab" ×3, " cd". Pair (a, b) occurs 4 times, (32, a) 3 times, the rest once.
    tok = BPETokenizer.train("ab ab ab ab cd", vocab_size=258)
    assert tok.merges[0] == (ord("a"), ord("b"))
    assert tok.encode("ab") == [256]
    # Second merge: " " + "ab" chunk → (32, 256) appears 3 times.
    assert tok.merges[1] == (32, 256)


def test_bpe_matches_a_naive_recount_trainer():
    """The incremental trainer must pick the same merges as recounting all pairs each time."""
    from collections import Counter

    from minillm.tokenizers.bpe import _merge

    text = CORPUS[:600]
    words = [list(w.encode()) for w in compile_pattern(SPLIT_PATTERN).findall(text)]
    expected = []
    for new_id in range(256, 256 + 60):
        counts = Counter(p for w in words for p in zip(w, w[1:]))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        expected.append(best)
        words = [_merge(w, best, new_id) for w in words]
    assert BPETokenizer.train(text, vocab_size=256 + 60).merges == expected


def test_bpe_compresses_and_handles_chinese(bpe):
    text = "自注意力机制 self-attention"
    ids = bpe.encode(text)
    assert len(ids) < len(text.encode("utf-8"))
    assert bpe.decode(ids) == text


def test_special_tokens(bpe):
    assert bpe.vocab_size == 300 and len(bpe.merges) == 300 - 256 - 2
    assert bpe.special_tokens == {"<|endoftext|>": 298, "<pad>": 299}
    eot = bpe.special_tokens["<|endoftext|>"]
    ids = bpe.encode("hello<|endoftext|>world")
    assert eot in ids
    assert bpe.decode(ids) == "hello<|endoftext|>world"
    assert eot not in bpe.encode("hello<|endoftext|>world", allow_special=False)


def test_bpe_save_load_round_trip(bpe, tmp_path):
    path = tmp_path / "tok.json"
    bpe.save(path)
    again = BPETokenizer.load(path)
    assert again.merges == bpe.merges and again.special_tokens == bpe.special_tokens
    assert again.encode(CORPUS[:200]) == bpe.encode(CORPUS[:200])


def test_bpe_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty text"):
        BPETokenizer.train("", 300)
    with pytest.raises(ValueError, match="vocab_size=200 is too small"):
        BPETokenizer.train("abc", 200)
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        BPETokenizer.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer file .* is not valid JSON"):
        BPETokenizer.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"type": "minillm-char", "chars": ["a"]}))
    with pytest.raises(ValueError, match="not a minillm BPE tokenizer"):
        BPETokenizer.load(tmp_path / "other.json")
    (tmp_path / "merges.json").write_text(json.dumps({"type": "minillm-bpe", "merges": [[1, 999]]}))
    with pytest.raises(ValueError, match="does not exist yet"):
        BPETokenizer.load(tmp_path / "merges.json")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        _BPE.decode([10_000])


def test_bpe_stops_early_on_tiny_text():
    tok = BPETokenizer.train("abab", vocab_size=1000)
    assert tok.vocab_size < 1000
    assert tok.decode(tok.encode("abab")) == "abab"


def test_char_tokenizer_errors_and_files(tmp_path):
    tok = CharTokenizer.from_text("hello")
    assert tok.vocab_size == 4 and tok.encode("hello") == [1, 0, 2, 2, 3]
    with pytest.raises(ValueError, match="'z' is not in the tokenizer's alphabet"):
        tok.encode("hez")
    with pytest.raises(ValueError, match="empty text"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([4])
    tok.save(tmp_path / "c.json")
    assert CharTokenizer.load(tmp_path / "c.json").chars == tok.chars
    (tmp_path / "b.json").write_text("[]")
    with pytest.raises(ValueError, match="not a minillm tokenizer file"):
        CharTokenizer.load(tmp_path / "b.json")
    (tmp_path / "bpe.json").write_text(json.dumps({"type": "minillm-bpe", "merges": []}))
    with pytest.raises(ValueError, match="not a minillm character tokenizer"):
        CharTokenizer.load(tmp_path / "bpe.json")


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_one_loader_reads_either_kind(kind, tmp_path):
    tok = CharTokenizer.from_text(CORPUS) if kind == "char" else _BPE
    tok.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(again) is type(tok)
    assert again.decode(again.encode(CORPUS)) == CORPUS and again.encode(CORPUS) == tok.encode(CORPUS)


def test_loader_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "hf.json").write_text(json.dumps({"version": "1.0", "model": {"type": "BPE"}}))  # a HF tokenizer
    with pytest.raises(ValueError, match="no 'type' field"):
        load_tokenizer(tmp_path / "hf.json")
    (tmp_path / "other.json").write_text(json.dumps({"type": "sentencepiece"}))
    with pytest.raises(ValueError, match=r"type 'sentencepiece'; known: \['minillm-bpe', 'minillm-char'\]"):
        load_tokenizer(tmp_path / "other.json")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "tokenizer.json"
    CharTokenizer.from_text("abc").save(path)
    before = path.read_bytes()

    def crash(self, text, *args, **kwargs):  # half a file written, then the process "dies"
        with open(self, "w", encoding="utf-8") as f:
            f.write(text[: len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_text", crash)
    with pytest.raises(OSError, match="disk full"):
        CharTokenizer.from_text("xyz").save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_tokenizer(path).chars == ["a", "b", "c"]
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer.json"]  # no temporary file left behind


# ---------------------------------------------------------------- bad input: types, lone surrogates
def test_bpe_training_names_a_wrong_type():
    with pytest.raises(TypeError, match=r"vocab_size must be an int, got '300' \(str\)"):
        BPETokenizer.train("hello world", "300")
    with pytest.raises(TypeError, match=r"vocab_size must be an int, got True \(bool\)"):
        BPETokenizer.train("hello world", True)
    with pytest.raises(TypeError, match=r"BPETokenizer.train expects a str, got bytes \(decode bytes first"):
        BPETokenizer.train(b"hello world", 300)
    with pytest.raises(TypeError, match="CharTokenizer.from_text expects a str, got bytes"):
        CharTokenizer.from_text(b"hello")


LONE = "a\ud800b"  # half of a UTF-16 pair: no character, no UTF-8 form


def test_lone_surrogates_are_refused_with_position_and_code_point():
    def refuse(caller):
        return pytest.raises(ValueError, match=rf"{caller}: text has a lone surrogate U\+D800 at position 1")

    with refuse("BPETokenizer.train"):
        BPETokenizer.train(LONE * 50, 300)
    with refuse("CharTokenizer.from_text"):
        CharTokenizer.from_text(LONE)
    for tok in (_BPE, CharTokenizer.from_text("ab")):
        with refuse("encode"):
            tok.encode(LONE)
    with pytest.raises(ValueError, match=r"lone surrogate U\+DC80 at position 0"):
        _BPE.encode("\udc80", allow_special=False)
    with pytest.raises(ValueError, match=r"special token '<\\ud800>': text has a lone surrogate"):
        BPETokenizer([], ["<\ud800>"])
    with pytest.raises(ValueError, match="CharTokenizer: text has a lone surrogate U\\+D800 at position 1"):
        CharTokenizer(["a", "\ud800"])


def test_saving_never_raises_unicode_encode_error(tmp_path):
    pattern = SPLIT_PATTERN + "|\ud800"  # a pattern from code may hold one; it is written as JSON's \ud800 escape
    BPETokenizer([], pattern=pattern).save(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))["pattern"] == pattern
    tok = BPETokenizer([], ["<|中|>"])  # everything else stays readable UTF-8
    tok.save(tmp_path / "u.json")
    assert "<|中|>" in (tmp_path / "u.json").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the split: GPT-2's published pattern
# Hand cases that separate GPT-2's rule (\p{N}+ number runs kept whole; \p{L} letters only) from GPT-4's
# digit groups and from the version-1 pattern ([^\W\d_] letters, which takes in ², ³, ½).
GPT2_SPLITS = {
    " 1891": [" 1891"],
    "x²y": ["x", "²", "y"],
    "a½b": ["a", "½", "b"],
    "Ⅻ th": ["Ⅻ", " th"],  # a Roman numeral (letter number, Nl) is a number, not a letter
    "I'm they'll we've don't": ["I", "'m", " they", "'ll", " we", "'ve", " don", "'t"],
    "I'M": ["I", "'", "M"],  # contractions are lower-case only in GPT-2's pattern
    "自注意力机制 is 2017": ["自注意力机制", " is", " 2017"],
    "hi 👋🏽!": ["hi", " 👋🏽!"],
    "Hello  world\n\n": ["Hello", " ", " world", "\n\n"],
    "x_y 3.14": ["x", "_", "y", " 3", ".", "14"],
}


@pytest.mark.parametrize("text, chunks", GPT2_SPLITS.items())
def test_gpt2_pattern_splits_like_gpt2(text, chunks):
    assert compile_pattern(SPLIT_PATTERN).findall(text) == chunks


def test_digit_groups_and_the_version_1_pattern_differ_where_they_should():
    assert compile_pattern(GPT2_DIGITS3_PATTERN).findall(" 1891 1234567") == [" 189", "1", " 123", "456", "7"]
    assert compile_pattern(GPT2_DIGITS3_PATTERN).findall("x²y") == ["x", "²", "y"]
    assert compile_pattern(MINILLM_V1_PATTERN).findall(" 1891 x²y") == [" 189", "1", " x²y"]


def test_a_trained_tokenizer_keeps_digit_runs_as_whole_chunks():
    tok = BPETokenizer.train("year 1891, year 1891, year 1891", vocab_size=300)
    assert tok.decode(tok.encode(" 1891")) == " 1891" and len(tok.encode(" 1891")) == 1


def test_a_version_1_file_keeps_the_split_it_was_trained_with(tmp_path):
    tok = BPETokenizer.train("year 1891 x²y " * 20, vocab_size=300, pattern=MINILLM_V1_PATTERN)
    assert tok.to_dict()["pattern"] == "minillm-v1"
    (tmp_path / "v1.json").write_text(json.dumps({**tok.to_dict(), "version": 1, "pattern": "gpt2"}))
    old = load_tokenizer(tmp_path / "v1.json")
    assert old.pattern == MINILLM_V1_PATTERN and old.encode(" 1891 x²y") == tok.encode(" 1891 x²y")
    new = load_tokenizer(_saved(BPETokenizer(tok.merges), tmp_path / "v2.json"))
    assert json.loads((tmp_path / "v2.json").read_text())["version"] == 2 and new.pattern == SPLIT_PATTERN


def _saved(tok, path):
    tok.save(path)
    return path


# ---------------------------------------------------------------- training cuts the text at special tokens
def test_training_never_learns_a_merge_across_a_special_token():
    # Every document starts "Once" right after <|endoftext|>; encode() splits there, so " Once" (with the
    # space the old training put in the special token's place) is never a chunk encode() can produce.
    text = "<|endoftext|>".join(["Once upon a time"] * 40)
    tok = BPETokenizer.train(text, vocab_size=300, special_tokens=["<|endoftext|>"])
    learned = {tok.vocab[256 + i] for i in range(len(tok.merges))}
    assert b" Once" not in learned and b" O" not in learned and b"Once" in learned
    assert tok.decode(tok.encode(text)) == text


def test_training_sees_the_same_chunks_encode_produces():
    text = "ab<s>cd<s>ab" * 30
    tok = BPETokenizer.train(text, vocab_size=270, special_tokens=["<s>"])
    learned = {tok.vocab[256 + i] for i in range(len(tok.merges))}
    assert b"ab" in learned and b"cd" in learned and not any(b"<" in t or b">" in t for t in learned)
