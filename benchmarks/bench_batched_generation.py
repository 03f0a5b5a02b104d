"""Batched generation with left padding vs one prompt at a time (issue 18; benchmarks/README.md).

GPT-2-124M layout, random weights, greedy, prompts of 8/16/24/32 tokens, 32 new tokens, 2 threads;
the two ways interleaved, 3 rounds each; prints whether the tokens are identical and the ratio.
"""

import time

import torch

from minillm.decoding.generation import generate, left_pad
from minillm.models.gpt import GPT, GPTConfig

torch.manual_seed(0)
torch.set_num_threads(2)
m = GPT(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)).eval()
prompts = [torch.randint(0, 50257, (n,)).tolist() for n in (8, 16, 24, 32)]
idx, mask = left_pad(prompts)
NEW = 32


def one():
    return [generate(m, torch.tensor([p]), NEW, temperature=0.0) for p in prompts]


def batched():
    return generate(m, idx, NEW, temperature=0.0, attention_mask=mask)


a, b = one(), batched()
same = all(b[i, idx.shape[1] - len(p) :].tolist() == a[i][0].tolist() for i, p in enumerate(prompts))
ta, tb = [], []
for _ in range(3):
    t = time.perf_counter()
    one()
    ta.append(time.perf_counter() - t)
    t = time.perf_counter()
    batched()
    tb.append(time.perf_counter() - t)
print("identical tokens:", same)
print("one-by-one s:", [round(x, 2) for x in ta], "batched s:", [round(x, 2) for x in tb])
print("speed-up (median one-by-one / median batched): %.2f" % (sorted(ta)[1] / sorted(tb)[1]))
