"""Questions about the synthetic world, and a labeler that knows every answer (report §1.2.2).

minillm's digit-sorting pipeline (rlhf/tasks.py) has a labeler that knows the sorted digits; here
the labeler knows the world (minillm/data/world.py), so it can judge a *factual* answer. It ranks
the replies to a question as a careful person would:

    a real person:       the correct answer  >  "I don't know"  >  a wrong answer
    a made-up person:    "I don't know"  >  any answer              (an answer is a hallucination)

``score(question, reply)`` gives those levels as +1 / 0 / -1 (made-up: +1 / -1). The questions
are grouped into the sets a report card measures (``question_sets``):

    tuned               people whose questions were instruction-tuned on (tuned phrasings)
    held_out_people     people seen only in pre-training (their facts must be *extracted*)
    held_out_phrasings  tuned people asked in phrasings never tuned on
    cross_language      held-out people whose biographies exist in one language, asked in the other
    made_up             names that belong to no one (the right answer is "I don't know")

Docs: docs/assistant.md.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from minillm.data.biographies import REFUSAL, answer, question
from minillm.data.world import ATTRIBUTES, LANGS, Person, World, check_positive_int

__all__ = ["QUESTION_SETS", "Question", "WorldLabeler", "is_refusal", "question_sets", "questions_about"]

QUESTION_SETS = ("tuned", "held_out_people", "held_out_phrasings", "cross_language", "made_up")


@dataclass(frozen=True)
class Question:
    """One question: the user's text, the answer the labeler expects, and what it is about."""

    text: str
    reference: str  # the fact restated (biographies.answer), or the refusal for a made-up person
    lang: str
    attribute: str
    real: bool

    @property
    def messages(self) -> list[dict]:
        return [{"role": "user", "content": self.text}]


def is_refusal(reply: str) -> bool:
    """Whether ``reply`` (stripped) is one of the refusals, "I don't know." or "我不知道。"."""
    return reply.strip() in REFUSAL.values()


def questions_about(
    person: Person | tuple[str, str],
    langs: Sequence[str],
    rng: random.Random,
    held_out: bool = False,
    attributes: Sequence[str] = ATTRIBUTES,
) -> list[Question]:
    """One question per attribute and language about a person, or about a made-up (English, Chinese) name."""
    out = []
    for lang in langs:
        for a in attributes:
            if isinstance(person, Person):
                name, reference, real = person.name(lang), answer(person, a, lang), True
            else:
                name, reference, real = person[LANGS.index(lang)], REFUSAL[lang], False
            out.append(Question(question(name, a, lang, rng, held_out), reference, lang, a, real))
    return out


def question_sets(world: World, made_up: Sequence[tuple[str, str]], n_people: int, seed: int) -> dict:
    """The report card's question sets (module docstring), ``n_people`` people (or names) each."""
    n_people = check_positive_int(n_people, "n_people")
    rng = random.Random(f"questions-{seed}")
    tuned, held = list(world.tuned[:n_people]), list(world.held_out)
    single = [p for p in held if len(p.languages) == 1][:n_people]
    other = lambda p: [lang for lang in LANGS if lang not in p.languages]
    return {
        "tuned": [q for p in tuned for q in questions_about(p, p.languages, rng)],
        "held_out_people": [q for p in held[:n_people] for q in questions_about(p, p.languages, rng)],
        "held_out_phrasings": [q for p in tuned for q in questions_about(p, p.languages, rng, held_out=True)],
        "cross_language": [q for p in single for q in questions_about(p, other(p), rng)],
        "made_up": [q for names in made_up[:n_people] for q in questions_about(names, LANGS, rng)],
    }


class WorldLabeler:
    """Scores and ranks replies to ``Question``s by the world's truth (module docstring)."""

    @staticmethod
    def score(q: Question, reply: str) -> float:
        reply = reply.strip()
        if not q.real:
            return 1.0 if is_refusal(reply) else -1.0
        if reply == q.reference:
            return 1.0
        return 0.0 if is_refusal(reply) else -1.0

    def rank(self, q: Question, replies: Sequence[str]) -> list[int]:
        """Ranks of ``replies`` (0 = best; equal scores share a rank)."""
        scores = [self.score(q, r) for r in replies]
        levels = sorted(set(scores), reverse=True)
        return [levels.index(s) for s in scores]

    @staticmethod
    def examples(world: World, made_up: Sequence[tuple[str, str]], per_person: int, seed: int) -> list[Question]:
        """Instruction-tuning questions: ``per_person`` rounds of every attribute of every tuned person
        in their biographies' languages (tuned phrasings), and as many about the ``made_up`` names."""
        per_person = check_positive_int(per_person, "per_person")
        rng = random.Random(f"examples-{seed}")
        real = [q for _ in range(per_person) for p in world.tuned for q in questions_about(p, p.languages, rng)]
        fake = [q for _ in range(per_person) for n in made_up for q in questions_about(n, LANGS, rng)]
        return real + fake
