"""``minillm costs report``: report §3.2's compute and memory numbers, computed, and what came next.

The numbers come from ``minillm.costs`` (the formulas live there, and only there); this module
prints them beside the report's own claims — 32x the context costs more than 1000x the attention
FLOPs, 100 B parameters take 400 GB in fp32 — and, for "Beyond §3.2" (docs/beyond.md), the KV
cache of multi-head, grouped-query, multi-query and windowed attention and the total vs active
parameters of mixture-of-experts models; and, past the memory wall, how many 80 GB GPUs each
sharding strategy needs (costs/sharding.py).
"""

from __future__ import annotations

from minillm.models.presets import GPT2_NAMES

__all__ = ["WALL_MODELS", "add_arguments", "beyond_report", "memory_wall_report", "run"]


def add_arguments(p) -> None:
    p.add_argument("--scale", type=int, default=32, help="context multiplier (report: 32)")
    p.add_argument("--model", default="gpt2", choices=GPT2_NAMES)
    p.add_argument("--context", type=int, default=1024, help="base context length")
    p.add_argument(
        "--beyond", default="qwen3-0.6b", choices=["llama-3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b"],
        help="model whose KV cache is shown beside §3.2 (MHA vs GQA vs MQA vs window; docs/beyond.md)",
    )  # fmt: skip
    p.add_argument("--gpu-gb", type=float, default=80.0, help="memory of one GPU for the memory-wall table (GB)")


def _gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB" if x < 1e12 else f"{x / 1e12:,.2f} TB"


def run(args) -> int:
    from minillm.costs.training import forward_flops, report_numbers, training_memory
    from minillm.models import GPTConfig

    if not args.gpu_gb > 0:  # checked before anything is printed (also refuses nan)
        raise ValueError(f"--gpu-gb must be a positive number of gigabytes, got {args.gpu_gb}")
    r = report_numbers(context_scale=args.scale, model=args.model, base_context=args.context)
    t0, t1 = r["base_context"], r["base_context"] * r["context_scale"]
    print("Report §3.2, compute: attention cost grows with the square of the context.")
    print(
        f"  {r['context_scale']}x context ({t0:,} -> {t1:,} tokens): attention FLOPs x{r['attention_flops_ratio']:,.0f}"
        f"  (= {r['context_scale']}^2; the report: 'more than 1000x')"
    )
    print(
        f"  whole {r['model']} forward pass: x{r['whole_model_flops_ratio']:,.0f} — smaller, because the linear layers"
        f" (x{r['linear_flops_ratio']:.0f}) grow only linearly;"
    )
    print(
        f"  attention is {r['attention_share_short']:.0%} of the FLOPs at {t0:,} tokens and "
        f"{r['attention_share_long']:.0%} at {t1:,}; it overtakes a block's linear layers at T = 6 x n_embd"
        f" = {r['crossover_context']:,}."
    )
    print()
    print("Report §3.2, memory: parameters, gradients and optimizer states.")
    print(f"  100 B parameters x 4 bytes (fp32)          = {_gb(r['params_100b_fp32_bytes'])}   (the report: 400 GB)")
    print(f"  + grads + Adam, mixed precision (16 B/param) = {_gb(r['params_100b_mixed_adam_bytes'])}")
    cfg = GPTConfig.from_name(args.model)
    for recompute in (False, True):
        m = training_memory(cfg, args.context, batch_size=8, precision="mixed", recompute=recompute)
        what = "with" if recompute else "without"
        print(
            f"  {args.model}, batch 8 x {args.context:,} tokens, {what} recomputation: params {_gb(m.params)}, "
            f"grads {_gb(m.grads)}, Adam+master {_gb(m.optimizer)}, activations {_gb(m.activations)}"
            f" -> {_gb(m.total)}"
        )
    f = forward_flops(cfg, args.context)
    print()
    print(
        f"{args.model} forward FLOPs per {args.context:,}-token sequence: "
        f"linear {f.linear:.3g}, attention {f.attention:.3g}"
    )
    beyond_report(args.beyond, args.context * args.scale)
    memory_wall_report(args.gpu_gb)
    return 0


def beyond_report(name: str, context: int) -> None:
    """Beyond §3.2 (docs/beyond.md): the KV cache of MHA/GQA/MQA/window and experts' total vs active."""
    from minillm.costs.inference import expert_costs, kv_cache_bytes
    from minillm.costs.training import param_count
    from minillm.models import LlamaConfig

    base = LlamaConfig.from_name(name)
    window = min(4096, context)
    variants = [
        (f"multi-head ({base.n_head} K/V heads)", {"n_kv_head": base.n_head}),
        (f"grouped-query ({base.n_kv_head}, as released)", {}),
        ("multi-query (1)", {"n_kv_head": 1}),
        (f"grouped-query + window {window:,}", {"window": window}),
    ]
    print()
    print(f"Beyond §3.2, inference memory: the KV cache of {name} (bf16, batch 1), which grows with the context")
    for what, change in variants:
        c = LlamaConfig.from_name(name, **change)
        per_token, seq = kv_cache_bytes(c, 1), kv_cache_bytes(c, context)
        print(f"  {what:<36} {per_token / 1e3:8.1f} kB/token  {_gb(seq):>9} at {context:,} tokens")
    print(f"  (the bf16 weights: {_gb(2 * param_count(base))})")
    print()
    print("Beyond §3.2, mixture-of-experts: every expert is stored, k run per token")
    for moe in ("mixtral-8x7b", "qwen3-30b-a3b"):
        c = LlamaConfig.from_name(moe)
        e = expert_costs(c)
        print(
            f"  {moe:<14} {c.n_experts} experts, {c.expert_top_k} per token: {e['total_params'] / 1e9:.1f} B parameters,"
            f" {e['active_params'] / 1e9:.1f} B active; forward FLOPs/token {e['active_flops']:.3g}"
            f" vs {e['dense_flops']:.3g} if every expert ran"
        )


WALL_MODELS = ("100b", "gpt2", "llama-3.2-1b", "qwen3-30b-a3b")


def memory_wall_report(gpu_gb: float = 80.0, micro_batch: int = 1) -> None:
    """Past the memory wall (docs/quadratic-cost.md): bytes per GPU and the smallest number of
    ``gpu_gb`` GPUs for each sharding strategy, without and with activation checkpointing."""
    from minillm.costs.params import param_count
    from minillm.costs.sharding import STRATEGIES, fits_table, hundred_billion_gpt
    from minillm.models.families import model_config

    print()
    print(f"Past the memory wall: the smallest N of {gpu_gb:g} GB GPUs that hold one training step")
    print(f"  (mixed-precision AdamW, 16 B/param; micro-batch {micro_batch} sequence(s) of the model's context")
    print("  below, capped at 4,096 tokens; minillm/costs/sharding.py; '-' = no N up to 4,096, GB at the largest)")
    for name in WALL_MODELS:
        cfg = hundred_billion_gpt() if name == "100b" else model_config(name)
        seq = min(cfg.block_size, 4096)
        fits = {(f.strategy, f.recompute): f for f in fits_table(cfg, seq, micro_batch, gpu_gb * 1e9)}
        print(f"  {name} ({param_count(cfg) / 1e9:.1f} B parameters, {seq:,} tokens)")
        print(f"    {'strategy':<9} {'no checkpointing':>24} {'activation checkpointing':>26}")
        for s in STRATEGIES:
            cells = []
            for r in (False, True):
                f = fits[(s, r)]
                n = "-" if f.n is None else f"N = {f.n:,}"
                cells.append(f"{n:>9} {f.bytes_per_gpu / 1e9:>9,.1f} GB")
            print(f"    {s:<9} {cells[0]:>24} {cells[1]:>26}")
