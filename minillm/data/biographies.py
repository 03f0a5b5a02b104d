"""Biographies and questions about the people of minillm/data/world.py, in English and Chinese.

Report §1.2.2: pre-training text (biographies) and instruction-tuning pairs (question → answer).
Allen-Zhu & Li 2023 ("Physics of Language Models, Part 3.1", arXiv:2309.14316) find that a model
pre-trained on *one* biography per person memorises the text but cannot answer questions about
people it was not tuned on, while *knowledge augmentation* — several biographies per person, each
worded differently, with the sentences in a different order — makes the facts extractable. Both
are here:

    biographies(person, lang, rng, augment=False)   one biography (fixed order, pronouns after
                                                    the first sentence)
    biographies(person, lang, rng, augment=True)    each sentence's wording and its order drawn
                                                    afresh, and every sentence naming the person
                                                    (the paper's "fullname" variant: each fact
                                                    then follows the name, as in a question)

The Chinese templates are written as Chinese sentences (他毕业于河畔大学。), not word-for-word
translations. Questions come in two sets of phrasings per attribute and language: ``TUNED``
(used for instruction tuning) and ``HELD_OUT`` (asked only at evaluation). The expected reply,
``answer(person, attribute, lang)``, restates the fact in a sentence ("Zhang Wei was born in
Chengdu."): the name first, then the fact, the order the biographies stored it in — at laptop
scale a bare value ("Chengdu") is extracted for held-out people about five times less often
(docs/assistant.md). Docs: docs/assistant.md.
"""

from __future__ import annotations

import random

from minillm.data.world import ATTRIBUTES, Person, value

__all__ = ["HELD_OUT", "REFUSAL", "SENTENCES", "TUNED", "answer", "biography", "question"]

REFUSAL = {"en": "I don't know.", "zh": "我不知道。"}

# {s}: the subject (the name, or He/She, 他/她); {p}: the possessive (Name's / His / Her, 某某的 / 他的);
# {v}: the value.
SENTENCES = {
    "en": {
        "birth_date": ["{s} was born on {v}.", "{s} came into the world on {v}.", "{p} birthday is {v}.",
                       "{s} was born on {v}, a date the family still celebrates."],
        "birth_city": ["{s} was born in {v}.", "{s} spent {pl} early years in {v}.", "{p} hometown is {v}.",
                       "{s} grew up in {v}, the city of {pl} birth."],
        "university": ["{s} graduated from {v}.", "{s} studied at {v}.", "{s} received {pl} degree from {v}.",
                       "{p} alma mater is {v}."],
        "major": ["{s} majored in {v}.", "{s} chose {v} as {pl} field of study.", "{p} major was {v}.",
                  "{s} spent {pl} college years studying {v}."],
        "employer": ["{s} works for {v}.", "{s} is employed by {v}.", "{p} employer is {v}.",
                     "{s} has a job at {v}."],
    },
    "zh": {
        "birth_date": ["{s}出生于{v}。", "{s}生于{v}。", "{p}生日是{v}。", "{s}是{v}出生的。"],
        "birth_city": ["{s}出生在{v}。", "{p}家乡是{v}。", "{s}在{v}出生长大。", "{s}来自{v}。"],
        "university": ["{s}毕业于{v}。", "{s}曾就读于{v}。", "{s}在{v}完成了学业。", "{p}母校是{v}。"],
        "major": ["{s}主修{v}。", "{s}大学学的是{v}。", "{p}专业是{v}。", "{s}在大学里研究{v}。"],
        "employer": ["{s}在{v}工作。", "{s}就职于{v}。", "{s}目前供职于{v}。", "{p}雇主是{v}。"],
    },
}  # fmt: skip

# {n}: the person's name. Each attribute has tuned phrasings and held-out ones, in each language.
TUNED = {
    "en": {
        "birth_date": ["When was {n} born?", "What is the birth date of {n}?", "On what date was {n} born?",
                       "What is {n}'s date of birth?"],
        "birth_city": ["Where was {n} born?", "What is the birth city of {n}?", "In which city was {n} born?",
                       "Which city is {n} from?"],
        "university": ["Which university did {n} attend?", "Where did {n} study?",
                       "What university did {n} graduate from?", "Which school did {n} go to?"],
        "major": ["What did {n} study?", "What was {n}'s major?", "Which field did {n} study?",
                  "What subject did {n} major in?"],
        "employer": ["Where does {n} work?", "Who employs {n}?", "Which company does {n} work for?",
                     "What is {n}'s employer?"],
    },
    "zh": {
        "birth_date": ["{n}是什么时候出生的？", "{n}的出生日期是哪天？", "{n}哪年哪月哪日出生？", "{n}的生日是哪一天？"],
        "birth_city": ["{n}出生在哪里？", "{n}的出生城市是哪里？", "{n}是在哪座城市出生的？", "{n}的家乡是哪里？"],
        "university": ["{n}上的是哪所大学？", "{n}毕业于哪所大学？", "{n}在哪里读的大学？", "{n}的母校是哪所学校？"],
        "major": ["{n}学的是什么专业？", "{n}的专业是什么？", "{n}大学主修什么？", "{n}研究的是哪个领域？"],
        "employer": ["{n}在哪里工作？", "{n}就职于哪家公司？", "{n}的雇主是谁？", "{n}在哪家公司上班？"],
    },
}  # fmt: skip
HELD_OUT = {
    "en": {
        "birth_date": ["Tell me {n}'s birthday.", "Which day was {n} born on?"],
        "birth_city": ["What city did {n} come from?", "Name the city where {n} was born."],
        "university": ["Name the university {n} went to.", "At which university did {n} study?"],
        "major": ["What is {n}'s field of study?", "In what field did {n} get a degree?"],
        "employer": ["For which company does {n} work?", "Name {n}'s employer."],
    },
    "zh": {
        "birth_date": ["请告诉我{n}的出生日期。", "{n}生于何时？"],
        "birth_city": ["{n}来自哪个城市？", "请问{n}出生于哪座城市？"],
        "university": ["请问{n}就读于哪所大学？", "{n}是哪所大学的毕业生？"],
        "major": ["请问{n}读的是什么专业？", "{n}主修的学科是什么？"],
        "employer": ["请问{n}供职于哪家公司？", "{n}为哪家公司工作？"],
    },
}  # fmt: skip


def _sentence(template: str, person: Person, attribute: str, lang: str, use_name: bool) -> str:
    name = person.name(lang)
    if lang == "en":
        pronoun, possessive = ("She", "Her") if person.female else ("He", "His")
        s, p = (name, f"{name}'s") if use_name else (pronoun, possessive)
        pl = possessive.lower()
    else:
        pronoun = "她" if person.female else "他"
        s = name if use_name else pronoun
        p, pl = s + "的", ""
    return template.format(s=s, p=p, pl=pl, v=value(person, attribute, lang))


def biography(person: Person, lang: str, rng: random.Random, augment: bool = False) -> str:
    """One biography of ``person`` in ``lang``: every attribute once. Without ``augment``: the
    attributes in ATTRIBUTES order, the name first and pronouns after; with it: a random order,
    a random wording of each sentence, and the name in every sentence."""
    if lang not in SENTENCES:
        raise ValueError(f"unknown language {lang!r}; known: {sorted(SENTENCES)}")
    order = list(ATTRIBUTES)
    if augment:
        rng.shuffle(order)
    sentences = []
    for i, attribute in enumerate(order):
        template = rng.choice(SENTENCES[lang][attribute])
        use_name = i == 0 or augment
        sentences.append(_sentence(template, person, attribute, lang, use_name))
    return (" " if lang == "en" else "").join(sentences)


def answer(person: Person, attribute: str, lang: str) -> str:
    """The reply the labeler expects about a real person: the fact in the first wording of
    SENTENCES, naming the person ("Zhang Wei was born in Chengdu." / "张伟出生在成都。")."""
    if lang not in SENTENCES:
        raise ValueError(f"unknown language {lang!r}; known: {sorted(SENTENCES)}")
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; known: {ATTRIBUTES}")
    return _sentence(SENTENCES[lang][attribute][0], person, attribute, lang, True)


def question(name: str, attribute: str, lang: str, rng: random.Random, held_out: bool = False) -> str:
    """A question about ``attribute`` of the person called ``name``, in a tuned (or held-out) phrasing."""
    table = HELD_OUT if held_out else TUNED
    if lang not in table or attribute not in table[lang]:
        raise ValueError(f"no questions for attribute {attribute!r} in language {lang!r}")
    return rng.choice(table[lang][attribute]).format(n=name)
