"""Models factory of the scale-out tests: the campaign tests' scripted models
(campaign_models.py), plus a call log, a hold and a crash.

Ray workers keep the environment Ray started with, so all three are driven by
files under ``$LASSI_TEST_CONTROL_DIR/<campaign>/``:

- ``calls.log`` gets one line ``THREAD ROLE`` per LLM call, as the call is made;
- ``hold-THREAD`` makes that trial's first judgement write its pid to
  ``held-THREAD`` and wait to be killed (later judgements go on);
- ``crash-THREAD`` makes that trial's judgements raise RuntimeError.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from lassi_ee.campaign.spec import CampaignTrial
from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel
from tests.helpers import campaign_models

CONTROL = "LASSI_TEST_CONTROL_DIR"
FACTORY_REF = "tests.helpers.scaleout_models:build"


def control_dir(campaign: str) -> Path:
    folder = Path(os.environ[CONTROL]) / campaign
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build(trial: CampaignTrial) -> RoleScriptedChatModel:
    scripted = campaign_models.build(trial)
    folder = control_dir(trial.campaign)
    thread = trial.thread_id

    def wrapped(role: str, script: Any) -> Any:
        def answer(call: FakeCall) -> Any:
            with (folder / "calls.log").open("a") as log:
                log.write(f"{thread} {role}\n")
            if role == "judge":
                if (folder / f"crash-{thread}").exists():
                    raise RuntimeError("judge crashed (test)")
                held = folder / f"held-{thread}"
                if (folder / f"hold-{thread}").exists() and not held.exists():
                    partial = folder / f".held-{thread}.partial"
                    partial.write_text(str(os.getpid()))
                    partial.rename(held)  # whole, so the test reads a complete pid
                    time.sleep(600)
            return script(call)

        return answer

    return RoleScriptedChatModel(
        scripts={role: wrapped(role, script) for role, script in scripted.scripts.items()}
    )


def calls(campaign: str) -> list[tuple[str, str]]:
    """(thread, role) of every call the campaign's trials made, in order."""
    log = control_dir(campaign) / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(line.split()[0], line.split()[1]) for line in lines]
