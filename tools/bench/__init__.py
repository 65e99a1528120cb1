"""Benchmarks (``make bench``): each figure is a ratio against a baseline measured in the same run.

Tests check correctness; these only report. Run ``python -m tools.bench --help``.
"""
