"""Attention time and memory against context length (report §3.2). Same as `minillm bench attention`.

python benchmarks/bench_attention.py --quick       # class demo, ≤ 2 min on a laptop CPU
python benchmarks/bench_attention.py --help
"""

import sys

from minillm.commands.bench.attention import main

if __name__ == "__main__":
    sys.exit(main())
