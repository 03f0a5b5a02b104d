"""``minillm costs check``: the memory calculator against the measured peak of real training steps.

Report §3.2 (memory): ``minillm.costs.memory.step_memory`` predicts the bytes of one AdamW
training step of minillm's GPT (parameters, gradients, Adam moments, what autograd keeps for
backward, the largest transient); this module runs the real thing and compares.

How the CPU peak is measured (``minillm.commands.bench.common.peak_extra_memory``): each config runs in a
fresh Python process. The baseline is the resident set after imports and the batch exist; the
peak is VmHWM (reset through /proc/self/clear_refs) over building the model and optimizer and
running two ``TrainStep`` steps (the second one with the Adam moments already allocated), with
glibc told to give every block > 256 KiB back to the OS on free, so the resident set follows
live tensors. This is fair to the estimate: both count everything the training step itself
brings into memory and nothing the process held before. On CUDA the same runs read
``torch.cuda.max_memory_allocated`` above the allocated bytes before the model was built.
"""

from __future__ import annotations

import json
import subprocess
import sys

import torch
from torch import Tensor

__all__ = ["CHECK_CONFIGS", "measure_step_peak", "run_check"]

# Each config's peak is >= ~200 MB above the baseline, so allocator noise (a few MB) stays small.
CHECK_CONFIGS = [  # small widths and many tokens: the most activation memory per second of compute
    {
        "name": "sdpa fp32",
        "attn_backend": "sdpa",
        "n_layer": 4,
        "n_embd": 64,
        "n_head": 2,
        "seq_len": 256,
        "batch_size": 64,
    },
    {
        "name": "chunked fp32",
        "attn_backend": "chunked",
        "n_layer": 4,
        "n_embd": 64,
        "n_head": 2,
        "seq_len": 256,
        "batch_size": 64,
    },
    {
        "name": "naive fp32",
        "attn_backend": "naive",
        "n_layer": 2,
        "n_embd": 64,
        "n_head": 2,
        "seq_len": 256,
        "batch_size": 32,
    },
    {
        "name": "sdpa fp32 dropout",
        "attn_backend": "sdpa",
        "n_layer": 2,
        "n_embd": 128,
        "n_head": 4,
        "seq_len": 256,
        "batch_size": 16,
        "dropout": 0.1,
    },
    {
        "name": "sdpa bf16 autocast",
        "attn_backend": "sdpa",
        "n_layer": 4,
        "n_embd": 64,
        "n_head": 2,
        "seq_len": 512,
        "batch_size": 48,
        "precision": "bf16",
    },
    {
        "name": "sdpa fp32 vocab 8192",
        "attn_backend": "sdpa",
        "n_layer": 1,
        "n_embd": 128,
        "n_head": 2,
        "seq_len": 256,
        "batch_size": 16,
        "vocab_size": 8192,
    },
]
VOCAB = 512


def _gpt_config(spec: dict):
    from minillm.models.gpt import GPTConfig

    return GPTConfig(
        vocab_size=spec.get("vocab_size", VOCAB),
        block_size=spec["seq_len"],
        n_layer=spec["n_layer"],
        n_head=spec["n_head"],
        n_embd=spec["n_embd"],
        dropout=spec.get("dropout", 0.0),
        attn_backend=spec["attn_backend"],
    )


def measure_step_peak(spec: dict, device: str = "cpu") -> int | None:
    """Peak bytes above the baseline of building the model and optimizer and running two steps."""
    from minillm.commands.bench.common import peak_extra_memory
    from minillm.models.gpt import GPT
    from minillm.train.step import TrainStep, make_optimizer

    dev = torch.device(device)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if spec.get("precision", "fp32") == "bf16" else None

    def steps(spec: dict, x: Tensor):
        model = GPT(_gpt_config(spec)).to(dev).train()
        optimizer = make_optimizer(model, 1e-3, device_type=dev.type)
        step = TrainStep(model, optimizer, lr=1e-3, max_steps=2, autocast_dtype=dtype, device_type=dev.type)
        for i in range(2):
            step(i, [(x, x)], lambda b: model(*b)[1])

    # A tiny run of the same code first: the optimizer's lazy imports (~150 MB of Python modules)
    # and the math libraries' code pages belong to the process, not to the step being measured.
    tiny = {**spec, "n_layer": 1, "n_embd": 2 * spec["n_head"], "seq_len": 8, "batch_size": 2}
    steps(tiny, torch.randint(0, VOCAB, (2, 8), device=dev))
    x = torch.randint(0, spec.get("vocab_size", VOCAB), (spec["batch_size"], spec["seq_len"]), device=dev)  # (B, T)
    return peak_extra_memory(lambda: steps(spec, x), dev)


def _child(spec_json: str) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    spec = json.loads(spec_json)
    print(json.dumps({"measured_bytes": measure_step_peak(spec, spec.get("device", "cpu"))}))


def run_check(specs: list[dict], device: str = "cpu") -> list[dict]:
    """One record per config: the estimate, the measured peak (fresh process each) and their ratio."""
    from minillm.costs.memory import step_memory

    records = []
    for spec in specs:
        est = step_memory(_gpt_config(spec), spec["seq_len"], spec["batch_size"], spec.get("precision", "fp32"))
        code = f"from minillm.commands.bench.memory import _child; _child({json.dumps({**spec, 'device': device})!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"measuring {spec['name']!r} failed:\n{proc.stderr[-2000:]}")
        measured = json.loads(proc.stdout.strip().splitlines()[-1])["measured_bytes"]
        records.append(
            {
                **spec,
                "device": device,
                "estimate_bytes": est.total,
                "activation_bytes": est.activations,
                "measured_bytes": measured,
                "ratio": None if not measured else est.total / measured,
            }
        )
    return records


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="one config (sdpa fp32) instead of the table")
    p.add_argument("--json", action="store_true", help="print a JSON list of records instead of the table")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the steps run")


def run(args) -> int:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available")
    records = run_check(CHECK_CONFIGS[:1] if args.quick else CHECK_CONFIGS, args.device)
    if args.json:
        print(json.dumps(records, indent=1))
        return 0
    print(f"One AdamW training step, estimate (minillm.costs.memory.step_memory) vs measured peak on {args.device}:")
    print(f"{'config':<22} {'B×T':>9} {'activations':>12} {'estimate':>10} {'measured':>10} {'ratio':>6}")
    for r in records:
        measured = "n/a" if r["measured_bytes"] is None else f"{r['measured_bytes'] / 1e6:.1f} MB"
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(
            f"{r['name']:<22} {r['batch_size']:>4}×{r['seq_len']:<4} {r['activation_bytes'] / 1e6:>9.1f} MB"
            f" {r['estimate_bytes'] / 1e6:>7.1f} MB {measured:>10} {ratio:>6}"
        )
    return 0
