"""Run or resume one trial in this process and SIGKILL ourselves where told.

    python -m tests.helpers.trial_child run|resume SOURCE THREAD SETTINGS_JSON LOG KILL

KILL is "none", "after:NODE" (once NODE's step is checkpointed), "during:measure"
(part-way through the first screen measurement this process makes), "during:confirm"
(part-way through its first interleaved confirmation) or "hold:NODE" (once NODE's step
is checkpointed, create LOG.held and wait to be killed). LLM calls, measurements and
confirmations are appended to LOG, one line each.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lassi_ee.api import resume_graph, run_graph
from lassi_ee.settings import Settings
from tests.helpers.child_hooks import die, log_measurements
from tests.helpers.trial_programs import answer_by_best_code


def main() -> None:
    mode, source, thread, settings_json, log_name, kill = sys.argv[1:7]
    settings = Settings.model_validate_json(settings_json)
    log = Path(log_name)
    log_measurements(log, kill)

    def on_update(node: str, update: dict) -> None:
        if kill == f"after:{node}":
            die()
        if kill == f"hold:{node}":
            Path(f"{log}.held").touch()
            time.sleep(600)

    model = answer_by_best_code(log)
    if mode == "run":
        run_graph(
            source, "cpu", thread_id=thread, settings=settings, models=model, on_update=on_update
        )
    else:
        resume_graph(thread, settings=settings, models=model, on_update=on_update)


if __name__ == "__main__":
    main()
