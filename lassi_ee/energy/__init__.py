"""Energy measurement: backends per device, and one procedure for all of them.

device = resolve_device("cuda:0")                                    # energy/vendors.py
backend = backend_for(device)
profile = measure(backend, run_batch, config, timeline_path)        # EnergyProfile: a screen
screen_lower(best_profile, profile, min_gain=0.02, noise_sigmas=2.0)
confirmation = confirm(backend, best_batch, candidate_batch, rule, config, timeline_path)
confirmation.decision.claimed                                        # what a claim rests on

``config`` is a ``MeasurementConfig`` (windows, idle level, lock), ``rule`` a
``DecisionRule``: the layer takes these, never the whole settings.
"""

from __future__ import annotations

from lassi_ee.energy.base import (
    EnergyMeasurement,
    EnergyProfile,
    Marker,
    PaperRecipeResult,
    PowerBackend,
    Stats,
    Timeline,
)
from lassi_ee.energy.decide import Decision, DecisionRule, decide, screen_lower
from lassi_ee.energy.measure import MeasurementConfig, measure
from lassi_ee.energy.paired import Confirmation, PairedMeasurement, confirm
from lassi_ee.energy.paper import measure_paper_style, paper_recipe
from lassi_ee.energy.vendors import backend_for, describe_devices, resolve_device

__all__ = [
    "Confirmation",
    "Decision",
    "DecisionRule",
    "EnergyMeasurement",
    "EnergyProfile",
    "Marker",
    "MeasurementConfig",
    "PairedMeasurement",
    "PaperRecipeResult",
    "PowerBackend",
    "Stats",
    "Timeline",
    "backend_for",
    "confirm",
    "decide",
    "describe_devices",
    "measure",
    "measure_paper_style",
    "paper_recipe",
    "resolve_device",
    "screen_lower",
]
