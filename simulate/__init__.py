"""Simulated registrants with ground truth, for the demo, the tests and the benchmarks."""

from .population import KINDS, Population, generate

__all__ = ["KINDS", "Population", "generate"]
