"""What every node needs: the run's context, its paths, and the facts prompts use.

The context holds the settings and the models.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.config import get_config

from lassi_ee.energy.base import EnergyProfile
from lassi_ee.errors import TrialInterrupted
from lassi_ee.llm.client import LLM
from lassi_ee.llm.errors import LLMError
from lassi_ee.llm.gate import RequestGate
from lassi_ee.llm.models import build_models
from lassi_ee.llm.usage import Usage
from lassi_ee.prompts.loader import device_vars
from lassi_ee.settings import Settings
from lassi_ee.state import Candidate, TrialState
from lassi_ee.thread_ids import check_thread_id

TRANSCRIPT_FILE = "llm-transcript.jsonl"
# One operation's transcript lines at a time: a refactor step of several candidates gets
# its replies in several threads, and their lines must not interleave.
_transcript_lock = threading.Lock()

log = logging.getLogger(__name__)


@dataclass
class TrialContext:
    """Run-scoped dependencies, passed as LangGraph runtime context (not checkpointed).

    ``models`` is one chat model, a mapping role/group -> model, or None for the
    models named in settings. ``request_gate`` is held around each LLM request
    (None: a per-process limit from settings). LangGraph Studio passes no
    context; defaults apply.
    """

    settings: Settings = field(default_factory=Settings)
    models: Any = None
    request_gate: RequestGate | None = None
    _llm: LLM | None = field(default=None, init=False, repr=False)

    def llm(self) -> LLM:
        """The trial's LLM client, its models built on first use.

        Every reply it gets goes to the trial's transcript (``llm-transcript.jsonl`` in its
        archive) with the request and what became of it, so that what a model really said
        can be read after the fact.
        """
        if self._llm is None:
            models = build_models(self.settings, self.models)
            self._llm = LLM(models, self.settings, self.request_gate, self._transcribe)
        return self._llm

    def _transcribe(self, entries: list[dict[str, Any]]) -> None:
        """Append the replies to the trial's transcript.

        The transcript is a record for later reading, not part of the trial's state: a
        client used outside a running trial has no archive to write to, and a disk that
        cannot take the lines costs a warning, never the replies already paid for (the
        trial's own writes report a full disk where it matters).
        """
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            path = archive_dir(self.settings) / TRANSCRIPT_FILE
            with _transcript_lock, path.open("a", encoding="utf-8") as transcript:
                for entry in entries:
                    transcript.write(json.dumps({"at": at, **entry}) + "\n")
        except RuntimeError:  # from get_config: no running trial, so no archive
            return
        except OSError as exc:
            log.warning(
                "LLM transcript not written (%s): %d replies missing from it", exc, len(entries)
            )


def context_of(runtime: Any) -> TrialContext:
    """The run's context, or defaults when started without one (LangGraph Studio)."""
    context = getattr(runtime, "context", None)
    if isinstance(context, TrialContext):
        return context
    if isinstance(context, dict):
        return TrialContext(**context)
    return TrialContext()


def thread_id() -> str:
    """The running trial's thread id (from the LangGraph run config), checked.

    It is checked before it names a folder: LangGraph Studio and the SDK pass ids that no
    entry of ours saw.
    """
    return check_thread_id(str(get_config().get("configurable", {}).get("thread_id", "no-thread")))


def trial_files(settings: Settings) -> str:
    """Where a trial writes, for messages about a disk that failed under it."""
    return (
        f"the trial's files (runs_dir {settings.runs_dir}, work_root {settings.work_root}, "
        f"cache_dir {settings.cache_dir})"
    )


def work_dir(settings: Settings) -> Path:
    """Scratch space for builds (safe to delete once the trial is over)."""
    path = settings.work_root / thread_id()
    path.mkdir(parents=True, exist_ok=True)
    return path


def archive_dir(settings: Settings) -> Path:
    """The trial's archive (kept): logs and timelines are written here as they happen."""
    path = settings.runs_dir / thread_id()
    path.mkdir(parents=True, exist_ok=True)
    return path


def version_dir(settings: Settings, candidate: Candidate) -> Path:
    """A version's archive folder: its logs, timelines and record."""
    path = archive_dir(settings) / "versions" / f"v{candidate.version:02d}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def figures(profile: EnergyProfile | None) -> str:
    """A profile's one-line summary for prompts, or that it was not measured."""
    return profile.summary() if profile is not None else "not measured"


def best_profile(state: TrialState) -> EnergyProfile:
    """The figures a candidate must beat: the best so far, else the source."""
    best = state.get("best")
    if best is not None and best.profile is not None:
        return best.profile
    return state["reference"].profile


def best_code(state: TrialState) -> str:
    """The program Stage 3 refactors: the best so far, else the source."""
    best = state.get("best")
    return best.code if best is not None else state["source_code"]


def prompt_vars(state: TrialState, **extra: object) -> dict[str, object]:
    """The device facts every template may use, plus what the role needs."""
    return {**device_vars(state["device_info"]), **extra}


def llm_failure(error: LLMError, candidate: Candidate | None = None) -> dict[str, Any]:
    """State update for an LLM call that hit the budget or was refused: the trial stops.

    Stage 4 then finalizes with the best so far. An outage (the server unreachable after
    every retry) is no such result: it is raised again, the step is not committed and the
    trial stops interrupted, to be resumed.
    """
    if isinstance(error, TrialInterrupted):
        raise error
    update: dict[str, Any] = {"stop_reason": str(error), "usage": error.usage or Usage()}
    if candidate is not None:
        update["candidate"] = candidate.model_copy(update={"note": str(error)})
    return update
