"""Benchmark suite: fake Bot Connector, two anchors (bare aiohttp, stock botbuilder), load generators, runner.

`python -m bench.run` is the entry point; see bench/RESULTS.md for the command and a recent result.
"""
