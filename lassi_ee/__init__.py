"""lassi-ee: refactor parallel scientific programs for lower energy, decided by measurement.

from lassi_ee import run_graph
result = run_graph("examples/jacobi2d", "cuda:0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Settings", "TrialResult", "resume_graph", "run_graph"]

if TYPE_CHECKING:
    from lassi_ee.api import TrialResult, resume_graph, run_graph
    from lassi_ee.settings import Settings


def __getattr__(name: str) -> Any:
    """Import the graph only when asked: the tools and the CLI start faster without it."""
    if name in ("run_graph", "resume_graph", "TrialResult"):
        from lassi_ee import api

        return getattr(api, name)
    if name == "Settings":
        from lassi_ee.settings import Settings

        return Settings
    raise AttributeError(f"module 'lassi_ee' has no attribute {name!r}")
