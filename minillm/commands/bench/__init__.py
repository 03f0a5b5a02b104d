"""Benchmarks behind ``minillm bench ...`` and ``benchmarks/*.py`` (report §3.2). Timing lives here, never in tests."""
