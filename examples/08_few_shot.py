"""Example 08 — in-context (few-shot) learning (report §1.2.2-3, 指令提示 / GPT-3's few-shot).

A small GPT is trained on episodes of one hidden task each — copy, reverse, sort, or shift every
letter by one — shown only through ⟨input, output⟩ demonstrations:

    "bdac>cadb;hgab>bagh;fehc>"      (the task here is: reverse)

Nothing in the prompt names the task; the model can only infer it from the demonstrations. We
then measure held-out accuracy with 0, 1, 2, 4 and 8 demonstrations (shots) before the query.

    python examples/08_few_shot.py            # ~5 min on 2 CPU cores
    python examples/08_few_shot.py --quick    # ~55 s smoke run (3-letter words, smaller model)

Prints accuracy per number of shots and saves a PNG of accuracy against shots.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

from minillm import CharTokenizer, Llama, LlamaConfig, generate
from minillm.data.packing import pack_examples, sample_windows
from minillm.prompting import FewShotTemplate, check_prompt_fits, few_shot_prompt, zero_shot_prompt
from minillm.train import train_lm
from minillm.utils.plotting import pyplot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

LETTERS = "abcdefgh"
TASKS = {
    "copy": lambda s: s,
    "reverse": lambda s: s[::-1],
    "sort": lambda s: "".join(sorted(s)),
    "shift": lambda s: "".join(LETTERS[(LETTERS.index(c) + 1) % len(LETTERS)] for c in s),
}
TEMPLATE = FewShotTemplate(example="{input}>{output}", query="{input}>", separator=";")
SHOTS = (0, 1, 2, 4, 8)


def random_word(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(length))


def training_stream(n_episodes: int, length: int, max_shots: int, seed: int, tok):
    """Episodes "\\n x1>y1;x2>y2;...;xk>yk" of one random task; every output is a target."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n_episodes):
        task = TASKS[rng.choice(list(TASKS))]
        for i in range(rng.randint(1, max_shots + 1)):
            x = random_word(rng, length)
            pairs.append((("\n" if i == 0 else ";") + TEMPLATE.query.format(input=x), task(x)))
    return pack_examples(pairs, tok.encode)


@torch.no_grad()
def accuracy(model, tok, shots: int, length: int, n: int, seed: int) -> float:
    rng = random.Random(seed)
    prompts, answers = [], []
    for i in range(n):
        task = TASKS[list(TASKS)[i % len(TASKS)]]  # balanced over tasks
        demos = [(x, task(x)) for x in (random_word(rng, length) for _ in range(shots))]
        query = random_word(rng, length)
        text = few_shot_prompt(demos, query, TEMPLATE) if shots else zero_shot_prompt(query, TEMPLATE)
        prompts.append(tok.encode("\n" + text))
        answers.append(task(query))
    check_prompt_fits(len(prompts[0]), model.config.block_size, length)
    out = generate(model, torch.tensor(prompts), length, temperature=0.0)
    got = [tok.decode(row[len(prompts[0]) :]) for row in out.tolist()]
    return sum(g == a for g, a in zip(got, answers)) / n


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=3)
    p.add_argument("--n-embd", type=int, default=96)
    p.add_argument("--length", type=int, default=4, help="letters per input word")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--n-eval", type=int, default=400, help="held-out queries per number of shots")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/08_few_shot.png")
    p.add_argument("--quick", action="store_true", help="a short run for smoke tests")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.length, args.block_size, args.n_layer, args.lr, args.n_eval = 600, 3, 80, 2, 3e-3, 100

    # The longest evaluation prompt ("\n" + 8 demonstrations + query) must fit: check before training.
    longest = 1 + max(SHOTS) * (2 * args.length + 2) + args.length + 1
    check_prompt_fits(longest, args.block_size, args.length)
    start = time.time()
    tok = CharTokenizer(LETTERS + ">;\n")
    tokens, learn = training_stream(20_000, args.length, max(SHOTS), args.seed, tok)
    torch.manual_seed(args.seed)
    model = Llama(
        LlamaConfig(
            vocab_size=tok.vocab_size,
            block_size=args.block_size,
            n_layer=args.n_layer,
            n_head=4,
            n_embd=args.n_embd,
            d_ff=4 * args.n_embd,
            # GPT-2's block with RoPE (relative positions) instead of learned ones
            norm="layernorm", activation="gelu_tanh", bias=True, tie_embeddings=True,
        )
    )
    print(f"tasks (hidden, one per episode): {', '.join(TASKS)}; GPT with {model.num_parameters():,} parameters")
    print("an episode looks like:", repr(tok.decode(tokens[:40].tolist())))
    gen = torch.Generator().manual_seed(args.seed)
    train_lm(
        model,
        lambda: sample_windows(tokens, learn, args.block_size, args.batch_size, gen),
        args.steps,
        lr=args.lr,
        log_every=max(1, args.steps // 5),
    )

    results = {k: accuracy(model, tok, k, args.length, args.n_eval, seed=20_000 + k) for k in SHOTS}
    print(f"\nheld-out accuracy by number of demonstrations ({args.n_eval} queries each, tasks balanced)")
    print(f"{'shots':>6} | accuracy")
    for k in SHOTS:
        print(f"{k:>6} | {results[k]:>7.1%}")
    print(f"chance of guessing the task with no demonstration: ~{1 / len(TASKS):.0%} (plus overlaps)")
    print(f"seed {args.seed}; total {time.time() - start:.0f} s")
    rows = [[k, f"{results[k]:.1%}"] for k in SHOTS]  # the README's table (tools/update_tables.py)
    write_results("08", ["shots", "accuracy"], rows, seed=args.seed, quick=args.quick, figures=results)
    _plot(results, args.out)
    return results


def _plot(results, out) -> None:
    plt = pyplot()
    if plt is None:
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(list(results), list(results.values()), marker="o")
    ax.set(
        xlabel="demonstrations in the prompt (shots)",
        ylabel="exact match",
        ylim=(-0.02, 1.02),
        xticks=list(results),
        title="In-context learning: accuracy vs shots",
    )
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
