"""The ``minillm`` command line (``cli``) and what only it needs: the guided demo, the costs report, the
benchmarks (``bench/``) and the Triton compile report. The library never imports this package.
"""
