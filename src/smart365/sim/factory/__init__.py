"""Factory simulator: a small 소부장 plant (CNC over OPC UA, injection moulding over MQTT/Sparkplug B, presses
over Modbus TCP) with plausible physics and labelled fault injection, for demos, connector tests and detector
benchmarks. ``smart365 sim run`` starts it (see :mod:`smart365.sim.factory.cli`).
"""

from smart365.sim.factory.physics import Fault, FaultKind, Label, Plant, Reading, write_labels
from smart365.sim.factory.runner import Endpoints, Factory, FactoryConfig, run_factory

__all__ = [
    "Endpoints",
    "Factory",
    "FactoryConfig",
    "Fault",
    "FaultKind",
    "Label",
    "Plant",
    "Reading",
    "run_factory",
    "write_labels",
]
