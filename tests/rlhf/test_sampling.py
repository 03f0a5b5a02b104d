"""Sampling from a policy (minillm/rlhf/sampling.py): token log-probabilities and entropies equal the
prefix-by-prefix ones, and batched replies equal each prompt answered alone."""

import pytest
import torch
from helpers.sort_task import ENC, TASK, tiny_gpt

from minillm.rlhf import generate_replies, sft_batch, token_logprobs


def test_token_logprobs_match_one_prefix_at_a_time():
    model = tiny_gpt().eval()
    inputs, targets = sft_batch([("\n31>", "13\n"), ("\n5>", "5\n")], ENC, pad_id=0, block_size=16)
    logp, entropy = token_logprobs(model, inputs, targets)
    for b in range(2):
        for t in range(inputs.shape[1]):
            if targets[b, t] == -100:
                assert logp[b, t] == 0 and entropy[b, t] == 0
                continue
            dist = torch.log_softmax(model(inputs[b : b + 1, : t + 1])[0][0, -1], -1)  # the prefix alone
            torch.testing.assert_close(logp[b, t], dist[targets[b, t]], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(entropy[b, t], -(dist.exp() * dist).sum(), atol=1e-5, rtol=1e-5)


def test_generate_replies_groups_prompts_but_answers_each_alone():
    from minillm.decoding.generation import generate

    model, prompts = tiny_gpt(), [ENC("\n31>"), ENC("\n4567>"), ENC("\n92>")]
    replies = generate_replies(model, prompts, 6, TASK.eos_id, temperature=0.0)
    for p, reply in zip(prompts, replies):
        alone = generate(model, torch.tensor([p]), 6, temperature=0.0)[0, len(p) :].tolist()
        cut = alone[: alone.index(TASK.eos_id) + 1] if TASK.eos_id in alone else alone
        assert reply == cut
    with pytest.raises(ValueError, match="non-empty"):
        generate_replies(model, [[]], 3, TASK.eos_id)
