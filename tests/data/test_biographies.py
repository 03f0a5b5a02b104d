"""minillm/data/biographies.py: every biography states every fact; questions keep their two phrasing sets apart."""

import random

import pytest

from minillm.data.biographies import HELD_OUT, SENTENCES, TUNED, answer, biography, question
from minillm.data.world import ATTRIBUTES, make_world, value
from minillm.tokenizers import BPETokenizer
from minillm.tokenizers.chat import CHAT_TOKENS


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("augment", [False, True])
def test_a_biography_names_the_person_first_and_states_every_value(lang, augment):
    rng = random.Random(0)
    for p in make_world(30, seed=1).people:
        text = biography(p, lang, rng, augment)
        assert text.startswith(p.name(lang))
        for a in ATTRIBUTES:
            assert value(p, a, lang) in text


def test_without_augmentation_the_order_is_fixed_and_with_it_the_order_varies():
    p = make_world(1).people[0]
    rng = random.Random(0)
    plain = [biography(p, "en", rng) for _ in range(20)]
    # ATTRIBUTES order: the date comes before the city, the city before the employer
    at = lambda b, a: b.index(value(p, a, "en"))
    assert all(at(b, "birth_date") < at(b, "birth_city") < at(b, "employer") for b in plain)
    augmented = {biography(p, "en", rng, augment=True) for _ in range(20)}
    starts = {b.split(p.name_en, 1)[1][:12] for b in augmented}
    assert len(augmented) > 10 and len(starts) > 2
    assert all(b.count(p.name_en) == len(ATTRIBUTES) for b in augmented)  # every sentence names the person
    assert plain[0].count(p.name_en) == 1 and ("He " in plain[0] or "She " in plain[0])  # once, then pronouns


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_answer_restates_one_fact_naming_the_person(lang):
    p = make_world(5, seed=2).people[3]
    for a in ATTRIBUTES:
        reply = answer(p, a, lang)
        assert reply.startswith(p.name(lang)) and value(p, a, lang) in reply
        assert reply == SENTENCES[lang][a][0].format(s=p.name(lang), p="", pl="", v=value(p, a, lang))
        assert all(value(p, b, lang) not in reply for b in ATTRIBUTES if b != a)
    assert answer(p, "birth_city", "en") == f"{p.name_en} was born in {value(p, 'birth_city', 'en')}."


def test_the_chinese_is_written_in_chinese_and_both_languages_round_trip_through_a_bpe():
    rng = random.Random(0)
    people = make_world(20, seed=0).people
    texts = [biography(p, lang, rng, True) for p in people for lang in ("en", "zh")]
    zh = biography(people[0], "zh", rng)
    assert not any(c.isascii() and c.isalpha() for c in zh)  # no Latin letters in the Chinese text
    assert zh.endswith("。")
    tok = BPETokenizer.train("\n".join(texts), 400, special_tokens=list(CHAT_TOKENS))
    for t in texts:
        assert tok.decode(tok.encode(t)) == t


def test_tuned_and_held_out_phrasings_are_disjoint_and_cover_every_attribute():
    for lang in ("en", "zh"):
        for a in ATTRIBUTES:
            assert not set(TUNED[lang][a]) & set(HELD_OUT[lang][a])
            assert len(SENTENCES[lang][a]) >= 4
    q = question("Zhang Wei", "major", "en", random.Random(0), held_out=True)
    assert q in [t.format(n="Zhang Wei") for t in HELD_OUT["en"]["major"]]


# -- bad input --
def test_unknown_language_or_attribute_is_named():
    p = make_world(1).people[0]
    with pytest.raises(ValueError, match="unknown language 'de'"):
        biography(p, "de", random.Random(0))
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        answer(p, "major", "fr")
    with pytest.raises(ValueError, match="unknown attribute 'age'"):
        answer(p, "age", "en")
    with pytest.raises(ValueError, match="no questions for attribute 'age'"):
        question("Li Wei", "age", "en", random.Random(0))
