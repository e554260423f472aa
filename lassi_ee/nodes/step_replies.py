"""The replies a Stage-3 step of several candidates already has, kept until the step is done.

``refactor`` asks for its n candidates at once, and an outage in one request interrupts
the whole step: nothing of it is checkpointed, and the resumed trial runs the step again.
So that the replies already paid for are not asked again, each is kept in the trial's
work folder as it arrives, and the step run again asks only the siblings that had none.
A kept reply comes back with the usage it cost, which the step then counts once, as it
would have had nothing failed.

The replies are kept under a key of what the step asked (its prompt's values, its
temperature, n), so that a kept reply is only ever taken by the very step that asked
for it, and the folder is cleared once the step has written its candidates. A work folder
that was deleted, or a resume on another machine, costs only the re-asked replies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lassi_ee.llm.client import CodeReply
from lassi_ee.llm.errors import NoUsableReply
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.common import work_dir
from lassi_ee.settings import Settings

log = logging.getLogger(__name__)


class StepReplies:
    """One step's kept replies: ``kept`` reads them, ``keep`` adds one, ``clear`` ends them."""

    def __init__(self, folder: Path, key: str) -> None:
        """Replies kept in ``folder`` under ``key``, the hash of what the step asked."""
        self.folder = folder
        self.key = key

    @classmethod
    def of_step(
        cls, settings: Settings, iteration: int, asked: Mapping[str, Any]
    ) -> StepReplies | None:
        """The replies of the running trial's step ``iteration``, which asked ``asked``.

        None outside a running trial: a node called on its own has no work folder.
        """
        try:
            folder = work_dir(settings) / "step-replies" / f"iteration-{iteration}"
        except RuntimeError:  # from get_config: no running trial
            return None
        text = json.dumps(asked, sort_keys=True, default=str)
        return cls(folder, hashlib.sha256(text.encode()).hexdigest())

    def kept(self) -> dict[int, CodeReply | NoUsableReply]:
        """Each sibling's kept answer, by sibling number.

        A file that cannot be read (the process died while writing it) or that another
        step's request wrote is passed over: that sibling is asked again.
        """
        found: dict[int, CodeReply | NoUsableReply] = {}
        for path in sorted(self.folder.glob("sibling-*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                if record["key"] != self.key:
                    continue
                usage = Usage.model_validate(record["usage"])
                found[int(record["sibling"])] = (
                    NoUsableReply(record["unusable"], usage=usage)
                    if "unusable" in record
                    else CodeReply(
                        code=record["code"],
                        text=record["text"],
                        usage=usage,
                        temperature_used=record["temperature_used"],
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found

    def keep(self, sibling: int, answer: CodeReply | NoUsableReply) -> None:
        """Keep a sibling's answer: a program, or a reply with none in it (both paid for).

        A disk that cannot take it costs a warning: the reply is only asked again if the
        step is.
        """
        record: dict[str, Any] = {"key": self.key, "sibling": sibling}
        if isinstance(answer, CodeReply):
            record.update(answer.model_dump(mode="json"))
        else:
            record.update(unusable=str(answer), usage=answer.usage.model_dump(mode="json"))
        path = self.folder / f"sibling-{sibling}.json"
        partial = path.with_suffix(".partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(record), encoding="utf-8")
            partial.replace(path)
        except OSError as exc:
            log.warning("sibling %d's reply not kept for a resume (%s)", sibling, exc)

    def clear(self) -> None:
        """The step has written its candidates: its replies are in the trial's state now."""
        shutil.rmtree(self.folder, ignore_errors=True)
