"""Benchmarks of the Action Registry (see run.py)."""
