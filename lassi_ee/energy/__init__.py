"""Energy measurement: backends per device, and one procedure for all of them.

device = resolve_device("cuda:0")                                    # energy/vendors.py
backend = backend_for(device)
profile = measure(backend, run_batch, settings, timeline_path)      # EnergyProfile: a screen
screen_lower(best_profile, profile, settings.min_energy_gain, settings.noise_sigmas)
confirmation = confirm(backend, best_batch, candidate_batch, rule, settings, timeline_path)
confirmation.decision.claimed                                        # what a claim rests on
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
from lassi_ee.energy.measure import measure
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
