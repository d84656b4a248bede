"""Simulation: the synthetic population of firms and (later) the simulated factory.

Used by the demo, tests and benchmarks; nothing in a production path imports it.
"""
