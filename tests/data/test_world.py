"""minillm/data/world.py: the synthetic people are deterministic, unique and well formed."""

import pytest

from minillm.data.world import (
    ATTRIBUTES,
    CITIES,
    EMPLOYERS,
    MAJORS,
    UNIVERSITIES,
    format_date,
    imaginary_names,
    make_world,
    value,
)


def test_the_same_seed_gives_the_same_world_and_another_seed_another():
    assert make_world(50, seed=3) == make_world(50, seed=3)
    assert make_world(50, seed=3).people != make_world(50, seed=4).people


def test_names_are_unique_in_both_scripts_and_imaginary_names_belong_to_no_one():
    world = make_world(400, seed=0)
    en = [p.name_en for p in world.people]
    zh = [p.name_zh for p in world.people]
    assert len(set(en)) == len(en) and len(set(zh)) == len(zh)
    made_up = imaginary_names(world, 100, seed=1)
    assert not {n for pair in made_up for n in pair} & (set(en) | set(zh))
    assert made_up == imaginary_names(world, 100, seed=1)


def test_the_split_halves_the_people_and_every_person_has_a_language():
    world = make_world(101, seed=0)
    assert len(world.tuned) == 51 and len(world.held_out) == 50
    assert not set(world.tuned) & set(world.held_out)
    assert {p.languages for p in world.people} == {("en",), ("zh",), ("en", "zh")}
    both = make_world(60, seed=0, single_language=0.0)
    assert all(p.languages == ("en", "zh") for p in both.people)


def test_values_read_back_from_the_pools_in_each_language():
    p = make_world(5, seed=2).people[0]
    assert value(p, "birth_city", "en") == CITIES[p.birth_city][0]
    assert value(p, "university", "zh") == UNIVERSITIES[p.university][1]
    assert value(p, "major", "zh") == MAJORS[p.major][1]
    assert value(p, "employer", "en") == EMPLOYERS[p.employer][0]
    assert format_date((1975, 3, 4), "en") == "March 4, 1975"
    assert format_date((1975, 3, 4), "zh") == "1975年3月4日"
    assert all(value(p, a, lang) for a in ATTRIBUTES for lang in ("en", "zh"))


# -- bad input --
@pytest.mark.parametrize("n", [0, -3, 2.5, "10", True, None])
def test_a_size_that_is_not_a_positive_integer_is_refused(n):
    with pytest.raises(ValueError, match="n_people must be a positive integer"):
        make_world(n)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", False])
def test_a_seed_that_is_not_a_non_negative_integer_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        make_world(10, seed=seed)


def test_unknown_attribute_language_and_too_many_people_are_named():
    p = make_world(3).people[0]
    with pytest.raises(ValueError, match="unknown attribute 'height'"):
        value(p, "height", "en")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        value(p, "major", "fr")
    with pytest.raises(ValueError, match="do not fit"):
        make_world(10**6)
