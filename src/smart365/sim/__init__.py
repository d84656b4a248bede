"""Simulation: the synthetic population of firms and (later) the simulated factory.

Used by the demo (``serve`` plus the simulated plant as a plug-in of the system, and seeded data), tests
and benchmarks; nothing in a production path imports it (the import contract puts it under ``cli`` only).
"""
