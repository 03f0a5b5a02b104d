"""Training throughput (tokens/s) and MFU of minillm's Trainer. Same as `minillm bench train`.

python benchmarks/bench_train.py                          # CPU: small GPT, eager and compiled
python benchmarks/bench_train.py --model gpt2 --batch-size 12 --block-size 1024 --dtype bfloat16   # GPU
"""

import sys

from minillm.commands.bench.train import main

if __name__ == "__main__":
    sys.exit(main())
