"""Example 06 — RLHF end to end (report §1.2.2-1): SFT → reward model → PPO, plus DPO and β = 0.

The code lives in minillm/rlhf/pipeline.py (so `minillm rlhf` runs it too); read it there.

    python examples/06_rlhf_pipeline.py            # ~1 min on 2 CPU cores
    python examples/06_rlhf_pipeline.py --quick    # ~25 s smoke run
"""

from minillm.rlhf.pipeline import main

if __name__ == "__main__":
    main()
