"""minillm/rlhf/knowledge.py: the labeler's order, and question sets that keep their promises."""

import random

import pytest

from minillm.data.biographies import HELD_OUT, TUNED, answer
from minillm.data.world import imaginary_names, make_world
from minillm.rlhf.knowledge import QUESTION_SETS, Question, WorldLabeler, is_refusal, question_sets, questions_about


def test_the_labeler_ranks_correct_over_refusal_over_wrong_and_refusal_over_anything_for_made_up_people():
    lab = WorldLabeler()
    real = Question("Where was Li Wei born?", "Beijing", "en", "birth_city", True)
    assert lab.rank(real, ["Paris", "I don't know.", " Beijing", "Tokyo"]) == [2, 1, 0, 2]
    fake = Question("李伟出生在哪里？", "我不知道。", "zh", "birth_city", False)
    assert lab.rank(fake, ["北京", "我不知道。", "I don't know.", "巴黎"]) == [1, 0, 0, 1]
    assert [lab.score(real, r) for r in ("Beijing", "我不知道。", "Paris")] == [1.0, 0.0, -1.0]
    assert is_refusal(" I don't know. ") and not is_refusal("I don't know Beijing")


def test_the_sets_ask_the_right_people_in_the_right_phrasings_and_languages():
    world = make_world(60, seed=0)
    made_up = imaginary_names(world, 5, seed=0)
    sets = question_sets(world, made_up, 10, seed=0)
    assert set(sets) == set(QUESTION_SETS)
    by_name = {p.name(lang): p for p in world.people for lang in ("en", "zh")}
    tuned, held = set(world.tuned), set(world.held_out)

    def who(q):
        return next(p for n, p in by_name.items() if n in q.text)

    for q in sets["tuned"]:
        assert who(q) in tuned and q.lang in who(q).languages and q.reference == answer(who(q), q.attribute, q.lang)
    for q in sets["held_out_people"]:
        assert who(q) in held and q.lang in who(q).languages
    for q in sets["held_out_phrasings"]:
        phrasings = [t.format(n=who(q).name(q.lang)) for t in HELD_OUT[q.lang][q.attribute]]
        assert who(q) in tuned and q.text in phrasings
    for q in sets["cross_language"]:
        assert who(q) in held and who(q).languages == (("en",) if q.lang == "zh" else ("zh",))
    assert len(sets["made_up"]) == 5 * 5 * 2 and not any(q.real for q in sets["made_up"])
    assert all(q.reference in ("I don't know.", "我不知道。") for q in sets["made_up"])


def test_tuning_examples_cover_every_tuned_person_and_only_tuned_phrasings():
    world = make_world(20, seed=1)
    made_up = imaginary_names(world, 2, seed=0)
    qs = WorldLabeler.examples(world, made_up, per_person=2, seed=0)
    n_real = 2 * 5 * sum(len(p.languages) for p in world.tuned)
    assert len(qs) == n_real + 2 * 2 * 5 * 2
    names = {p.name(lang) for p in world.held_out for lang in ("en", "zh")}
    assert not any(n in q.text for q in qs for n in names)
    allowed = {
        t.format(n=p.name(lang)) for p in world.tuned for lang in p.languages for ts in TUNED[lang].values() for t in ts
    }
    assert all(q.text in allowed for q in qs[:n_real])
    q = questions_about(world.people[0], ["en"], random.Random(0), attributes=["major"])[0]
    assert q.text in [t.format(n=world.people[0].name_en) for t in TUNED["en"]["major"]]


# -- bad input --
def test_sizes_must_be_positive_integers():
    world = make_world(4)
    with pytest.raises(ValueError, match="n_people must be a positive integer"):
        question_sets(world, [], 0, seed=0)
    with pytest.raises(ValueError, match="per_person must be a positive integer"):
        WorldLabeler.examples(world, [], 0, seed=0)
