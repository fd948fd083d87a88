"""Measurements of models and runs: trainability (mean JSV, TA, convergence), complexity, latency.

Each area lives in its own module (``prunebench.metrics.trainability``, ...); import what you need
from there. This package file stays free of imports so that adding a module never creates a cycle.
"""
