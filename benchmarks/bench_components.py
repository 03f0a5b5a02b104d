"""Per-part time of one GPT block (projections, T×T attention, feed-forward, rest) vs context (report §3.2).

python benchmarks/bench_components.py --quick     # ~20 s
python benchmarks/bench_components.py --help
"""

import sys

from minillm.commands.bench.components import main

if __name__ == "__main__":
    sys.exit(main())
