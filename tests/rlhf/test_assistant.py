"""minillm/rlhf/assistant.py: the pipeline's data and settings (the run itself: tests/integration/test_assistant.py)."""

import pytest

from minillm.data.world import make_world
from minillm.rlhf.assistant import (
    EOT,
    AssistantConfig,
    bio_batches,
    heldout_text,
    made_up_names,
    pretraining_text,
    run_assistant,
)
from minillm.tokenizers import BPETokenizer
from minillm.tokenizers.chat import CHAT_TOKENS


def test_with_augmentation_every_biography_is_new_and_without_it_one_is_repeated():
    world = make_world(10, seed=0)
    per_language = sum(len(p.languages) for p in world.people)
    aug = pretraining_text(world, 3, True, seed=0)
    plain = pretraining_text(world, 3, False, seed=0)
    assert len(aug) == len(plain) == 3 * per_language  # the same amount of text either way
    assert len(set(plain)) == per_language and len(set(aug)) > 2 * per_language


def test_bio_batches_end_each_biography_and_ignore_the_padding():
    bios = ["Li Wei was born in Beijing.", "李伟生于北京。"]
    tok = BPETokenizer.train("\n".join(bios), 300, [*CHAT_TOKENS, EOT])
    x, y = bio_batches(bios, tok, batch_size=4, seed=0)()
    eot = tok.special_tokens[EOT]
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        n = sum(t != -100 for t in row_y)
        ids = row_x[:1] + row_y[:n]
        assert tok.decode(ids[:-1]) in bios and ids[-1] == eot  # one biography, then the end of text
        assert row_x[1:n] == row_y[: n - 1]  # targets are the inputs shifted by one
        assert all(t == -100 for t in row_y[n:])


def test_made_up_names_are_three_disjoint_lists_and_held_out_text_is_deterministic():
    world = make_world(40, seed=1)
    c = AssistantConfig(n_people=40, made_up_share=0.25, n_eval=5)
    a, b, e = made_up_names(world, c)
    assert len(a) == len(b) == len(e) == 10 and not (set(a) & set(b) or set(b) & set(e) or set(a) & set(e))
    assert heldout_text(world, c) == heldout_text(world, c)
    assert world.people[0].name_en in heldout_text(world, c) or world.people[0].name_zh in heldout_text(world, c)


# -- bad input --
@pytest.mark.parametrize(
    "fields, message",
    [
        ({"n_people": 0}, "n_people must be a positive integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"pretrain_steps": 0}, "pretrain_steps must be a positive integer"),
        ({"made_up_share": 1.5}, "made_up_share must be in \\(0, 1\\)"),
        ({"n_people": "many"}, "n_people"),
    ],
)
def test_bad_settings_are_refused_before_any_work(fields, message):
    with pytest.raises(ValueError, match=message):
        AssistantConfig(**fields)


def test_a_biography_longer_than_the_context_is_refused_before_training():
    tok = BPETokenizer([], special_tokens=[*CHAT_TOKENS, EOT])  # bytes only: 7 characters x 3 bytes = 21 tokens
    with pytest.raises(ValueError, match="a biography takes 21 tokens but block_size=10"):
        bio_batches(["李伟生于北京。"], tok, batch_size=2, seed=0, block_size=10)


def test_run_assistant_takes_only_its_config():
    with pytest.raises(TypeError, match="expects an AssistantConfig"):
        run_assistant({"quick": True})
