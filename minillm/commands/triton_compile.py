"""Compile the Triton attention kernels for a GPU this machine does not have (report §3.2, on paper).

    minillm kernels compile --arch sm_90 [--json]

Triton compiles ahead of time: ``triton.compile(ASTSource(kernel, signature, constexprs),
target=GPUTarget("cuda", 90, 32))`` lowers a kernel through Triton's GPU IR (TTGIR) to PTX and a
cubin without touching a driver. For each kernel of minillm/kernels/triton_kernels.py (forward,
backward dK/dV, backward dQ) × head size × dtype × mask (none, causal, causal + sliding window), this prints what decides its speed:

- registers per thread and spills, from the ``ptxas -v`` bundled with Triton (spills go to slow
  local memory; a FlashAttention kernel should have none);
- shared memory (KiB), which must fit the SM (sm_90: 227 KiB, sm_80: 163 KiB) and bounds how
  many programs share it;
- whether the PTX uses tensor cores: ``wgmma`` (Hopper warp-group MMA) or ``mma.sync`` (Ampere).

Triton's ahead-of-time API moved within 3.x (ASTSource's arguments, where GPUTarget lives, the
form of alignment hints); the imports below try each known place and say which version they need.

Docs: docs/quadratic-cost.md#the-same-algorithm-on-a-gpu.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["ARCHS", "add_arguments", "compile_kernel", "compile_report", "format_table", "run"]

ARCHS = {"sm_90": (90, 227), "sm_80": (80, 163)}  # arch -> (capability, shared memory per block, KiB)
KERNELS = ("fwd", "dkdv", "dq")
HEAD_DIMS = (64, 128)
DTYPES = {"fp16": "fp16", "bf16": "bf16"}  # our name -> Triton's pointer type suffix
MASKS = {"none": (False, False), "causal": (True, False), "window": (True, True)}  # -> (CAUSAL, WINDOWED)
# The arguments of each kernel before its constexprs, with their Triton types ("*" = pointer to).
_ARGS = {
    "fwd": ["*T Q", "*T K", "*T V", "*T O", "*fp32 LSE", "i32 T_q", "i32 T_k", "i32 group", "fp32 scale"],
    "dkdv": ["*T Q", "*T K", "*T V", "*T DO", "*T DK", "*T DV", "*fp32 LSE", "*fp32 DELTA"]
    + ["i32 T_q", "i32 T_k", "i32 group", "fp32 scale"],
    "dq": ["*T Q", "*T K", "*T V", "*T DO", "*T DQ", "*fp32 LSE", "*fp32 DELTA"]
    + ["i32 T_q", "i32 T_k", "i32 group", "fp32 scale"],
}


def _triton_aot():
    """(triton, ASTSource, GPUTarget), wherever this Triton keeps them; a clear error if too old."""
    try:
        import triton
    except ImportError as err:
        raise ValueError(f"kernels compile needs triton (pip install triton): {err}") from None
    try:
        from triton.compiler import ASTSource
    except ImportError:
        try:
            from triton.compiler.compiler import ASTSource
        except ImportError:
            raise ValueError(
                f"triton {triton.__version__} has no ASTSource; kernels compile needs triton >= 3.0"
            ) from None
    try:
        from triton.backends.compiler import GPUTarget  # triton >= 3.0
    except ImportError:
        try:
            from triton.compiler.compiler import GPUTarget
        except ImportError:
            raise ValueError(
                f"triton {triton.__version__} has no GPUTarget; kernels compile needs triton >= 3.0"
            ) from None
    return triton, ASTSource, GPUTarget


def _kernels():
    from minillm.kernels import triton_attention as ta
    from minillm.kernels import triton_kernels as tk

    if ta.INTERPRETED:
        raise ValueError("TRITON_INTERPRET=1 turned the kernels into interpreters; unset it to compile for a GPU")
    return ta, {"fwd": tk.fwd_kernel, "dkdv": tk.dkdv_kernel, "dq": tk.dq_kernel}


def _ptxas() -> str:
    """The ptxas Triton ships (its bin/ folder moved between versions), else one on PATH."""
    import triton

    root = Path(triton.__file__).parent
    for candidate in (root / "backends/nvidia/bin/ptxas", root / "third_party/cuda/bin/ptxas"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("ptxas")
    if found is None:
        raise ValueError("no ptxas found (neither in the triton wheel nor on PATH)")
    return found


def _ptxas_usage(ptx: str, capability: int) -> tuple[int, int]:
    """(registers per thread, spill bytes stored + loaded) from ``ptxas -v``, as Triton runs it."""
    gpu = f"sm_{capability}a" if capability >= 90 else f"sm_{capability}"  # wgmma needs the "a" variant
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "kernel.ptx"
        src.write_text(ptx)
        cmd = [_ptxas(), "-v", f"--gpu-name={gpu}", str(src), "-o", str(Path(tmp) / "kernel.cubin")]
        log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    registers = int(re.search(r"Used (\d+) registers", log).group(1))
    spills = sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", log))
    return registers, spills


def compile_kernel(
    kernel: str, head_dim: int, dtype: str, causal: bool, arch: str = "sm_90", window: bool = False
) -> dict:
    """Compile one kernel variant for ``arch``; its record for the table and --json."""
    triton, ASTSource, GPUTarget = _triton_aot()
    ta, fns = _kernels()
    capability, shared_limit = ARCHS[arch]
    cfg = ta.config_for(arch.replace("_", ""), kernel, head_dim, window)
    args = [a.replace("*T", "*" + DTYPES[dtype]).split() for a in _ARGS[kernel]]
    constexprs = {"CAUSAL": causal, "WINDOW": 4096 if window else 0, "HEAD_DIM": head_dim}  # a Mistral-sized W
    constexprs |= {"BLOCK_M": cfg.block_m, "BLOCK_N": cfg.block_n}
    signature = {name: ty for ty, name in args} | {name: "constexpr" for name in constexprs}
    # Alignment hints the runtime would give: torch's allocations are 16-byte aligned.
    attrs = {(i,): [["tt.divisibility", 16]] for i, (ty, _) in enumerate(args) if ty.startswith("*")}
    options = {"num_warps": cfg.num_warps, "num_stages": cfg.num_stages}
    target = GPUTarget("cuda", capability, 32)
    try:
        compiled = triton.compile(ASTSource(fns[kernel], signature, constexprs, attrs), target=target, options=options)
    except TypeError as err:  # an older form of signature/attrs (triton 3.0-3.2)
        raise ValueError(f"triton {triton.__version__}'s ASTSource rejected the 3.3+ signature form: {err}") from None
    ptx = compiled.asm["ptx"]
    registers, spills = _ptxas_usage(ptx, capability)
    shared = compiled.metadata.shared
    mma = "wgmma" if "wgmma.mma_async" in ptx else "mma.sync" if "mma.sync" in ptx else ""
    return {
        "kernel": kernel,
        "head_dim": head_dim,
        "dtype": dtype,
        "causal": causal,
        "window": window,
        "arch": arch,
        "block_m": cfg.block_m,
        "block_n": cfg.block_n,
        "num_warps": cfg.num_warps,
        "num_stages": cfg.num_stages,
        "registers": registers,
        "spills": spills,
        "shared_kb": shared / 1024,
        "shared_limit_kb": float(shared_limit),
        "tensor_cores": bool(mma),
        "mma": mma,
        "triton": triton.__version__,
    }


def compile_report(arch: str = "sm_90", kernels=KERNELS, head_dims=HEAD_DIMS, dtypes=tuple(DTYPES)) -> list[dict]:
    """Every variant: kernel × head_dim × dtype × mask (none, causal, causal with a sliding window)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown --arch {arch!r}; choose one of {', '.join(ARCHS)}")
    return [
        compile_kernel(kernel, d, dtype, causal, arch, window)
        for kernel in kernels
        for d in head_dims
        for dtype in dtypes
        for causal, window in MASKS.values()
    ]


def format_table(records: list[dict]) -> str:
    head = f"{'kernel':<6} {'d':>4} {'dtype':<5} {'mask':<6} {'tiles':>8} {'warps':>5} {'stages':>6} "
    head += f"{'regs':>5} {'spills':>6} {'shared KiB':>10} {'tensor cores':<12}"
    lines = [head]
    for r in records:
        lines.append(
            f"{r['kernel']:<6} {r['head_dim']:>4} {r['dtype']:<5} {_mask_name(r):<6} "
            f"{r['block_m']:>4}x{r['block_n']:<3} {r['num_warps']:>5} {r['num_stages']:>6} {r['registers']:>5} "
            f"{r['spills']:>6} {r['shared_kb']:>10.1f} {r['mma'] or 'NONE':<12}"
        )
    return "\n".join(lines)


def _mask_name(record: dict) -> str:
    return next(name for name, flags in MASKS.items() if flags == (record["causal"], record["window"]))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", default="sm_90", choices=list(ARCHS), help="the GPU to compile for (no GPU needed)")
    p.add_argument("--json", action="store_true", help="print one JSON record per compiled kernel instead")


def run(args: argparse.Namespace) -> int:
    records = compile_report(args.arch)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    _, limit = ARCHS[args.arch]
    print(f"Triton attention kernels compiled for {args.arch} (shared memory limit {limit} KiB per block):")
    print(format_table(records))
    return 0
