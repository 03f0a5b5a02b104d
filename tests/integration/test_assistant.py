"""The tiny assistant end to end: example 15's quick run learns, `minillm eval` reproduces its report card,
and `minillm chat`, driven through stdin in a subprocess, answers a question about a person."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from collections import Counter

from minillm.data.world import ATTRIBUTES, make_world, value
from minillm.models.gpt import GPT
from minillm.models.loading import load
from minillm.rlhf.assistant import AssistantConfig, heldout_text
from minillm.rlhf.knowledge import question_sets
from minillm.rlhf.report_card import answers, bits_per_byte
from minillm.tokenizers.chat import ChatFormat

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("MINILLM_TEST_SEED", "0"))  # conftest's seed, for a module-scoped run
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    import runpy

    out = tmp_path_factory.mktemp("assistant")
    main = runpy.run_path(str(ROOT / "examples" / "15_tiny_assistant.py"), run_name="example")["main"]
    figures = main(["--quick", "--out-dir", str(out), "--seed", str(SEED)])
    return out, figures


def best_constant_guess(world, n_people: int) -> float:
    """Exact match on the held-out people of a model that copies the name without a slip and, knowing
    none of their facts, says each attribute's most common value among them (per language): the most
    a model that never read their biographies (no pre-training) could score."""
    counts = {}
    for p in world.held_out[:n_people]:
        for lang in p.languages:
            for a in ATTRIBUTES:
                counts.setdefault((a, lang), Counter())[value(p, a, lang)] += 1
    return sum(c.most_common(1)[0][1] for c in counts.values()) / sum(sum(c.values()) for c in counts.values())


@pytest.mark.learning
def test_the_quick_pipeline_stores_knowledge_and_learns_to_answer(quick, record_property):
    """What the quick run learns, each against a baseline from the same run: pre-training stores the
    biographies (bits per byte far below an untrained model's), SFT turns the model into one that
    answers (exact match on tuned people; the pre-trained model answers nothing). Extracting facts of
    held-out people is recorded, not asserted: at this size the quick run does not do it (docs/assistant.md)."""
    out, figures = quick
    card = figures["card"]
    config = AssistantConfig(quick=True, seed=SEED)
    _, tok = load(out / "sft")
    torch.manual_seed(SEED)
    untrained = GPT(config.model(tok.vocab_size))
    untrained_bpb = bits_per_byte(untrained, tok, heldout_text(make_world(config.n_people, SEED), config))
    for key in ("bits_per_byte", "em_tuned", "em_held_out_people", "hallucination", "refusal"):
        record_property(key, card["sft"][key])
    # A held-out floor would have to beat what no pre-training can give (a perfect name copy and each
    # attribute's commonest value: 14.7 % here, 8.5 % at the full run's 1,000 people); the quick run's
    # 50 tuned people teach their own answers, not a lookup (held-out 2.8 %), where the full run
    # reaches 66.0-69.3 % over seeds 0-2 (docs/assistant.md). Recorded beside that bound, not asserted.
    bound = best_constant_guess(make_world(config.n_people, SEED), config.n_eval)
    record_property("held_out_bound_without_pretraining", bound)
    # Measured (quick): base bits per byte 1.064 / 0.986 / 1.068 for seeds 0 / 1 / 2, the same to the last
    # digit under default, avx2 and avx512 at 1 and 2 threads; an untrained model scores
    # 3.65 / 3.55 / 3.70, so the largest ratio is 0.29 (floor 0.6: twice that). SFT exact match on tuned
    # people 26.1 % / 31.5 % / 26.7 % (the same in every cell); floor 5 %, a fifth of the minimum.
    assert card["base"]["bits_per_byte"] < 0.6 * untrained_bpb, (card["base"]["bits_per_byte"], untrained_bpb)
    assert card["base"]["em_tuned"] == 0.0  # the pre-trained model has not learned to answer yet
    assert card["sft"]["em_tuned"] >= 0.05, card["sft"]["em_tuned"]


def test_minillm_eval_reproduces_the_pipelines_report_card(quick, tmp_path):
    out, figures = quick
    target = tmp_path / "ppo.json"
    done = subprocess.run([sys.executable, "-m", "minillm", "eval", "--ckpt", str(out / "ppo"), "--world",
                           "--json", str(target)], check=False, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    card = json.loads(target.read_text(encoding="utf-8"))["card"]
    for key, v in figures["card"]["ppo"].items():
        if key != "example":
            assert card[key] == pytest.approx(v, abs=1e-6), key


def test_minillm_chat_answers_about_a_person_through_stdin_then_resets_and_exits(quick):
    out, _ = quick
    model, tok = load(out / "sft")
    chat = ChatFormat(tok)
    config = AssistantConfig(quick=True, seed=SEED)
    sets = question_sets(make_world(config.n_people, config.seed), [("A B", "甲乙")], config.n_eval, config.seed)
    said = answers(model, chat, [q.messages for q in sets["tuned"]])
    known = next(q for q, a in zip(sets["tuned"], said) if a.strip() == q.reference)  # one it answers right
    stdin = f"{known.text}\n/reset\n{known.text}\n"
    done = subprocess.run([sys.executable, "-m", "minillm", "chat", "--ckpt", str(out / "sft")], input=stdin,
                          check=False, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"assistant> {known.reference}") == 2  # the same answer before and after /reset
    assert "(conversation reset)" in done.stdout
