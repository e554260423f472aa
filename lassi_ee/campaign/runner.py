"""Running a campaign: the per-trial function any engine calls, and the local engine.

``run_campaign_trial`` runs (or resumes, or just reads) one trial and returns
its record; it knows nothing of processes or queues, so a distributed engine
can call it unchanged. The local engine gives each device of the campaign one
worker process with its own queue, so a GPU runs one trial at a time while the
GPUs run in parallel. A worker writes each record to the store the moment its
trial ends: killing the campaign at any point loses nothing finished, and a
rerun skips finished trials and resumes cut-off ones from their checkpoints.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import multiprocessing
import os
import queue
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from lassi_ee.api import OnUpdate, resume_graph, run_graph
from lassi_ee.campaign.spec import Campaign, CampaignTrial, device_label
from lassi_ee.campaign.store import ResultsStore, TrialRecord
from lassi_ee.errors import LassiError
from lassi_ee.llm.gate import RequestGate
from lassi_ee.result import resume_hint
from lassi_ee.trials import open_trials


def run_campaign_trial(
    campaign: Campaign,
    app: str,
    device: str,
    index: int,
    *,
    on_update: OnUpdate | None = None,
    run_on: str | None = None,
    request_gate: RequestGate | None = None,
) -> TrialRecord:
    """Run trial ``index`` of ``app`` on ``device`` to its end and return its record.

    A trial with checkpoints resumes from its last completed step (a finished one
    is only read). ``run_on`` is the device spec to run on when an engine assigned
    one (a Ray task's ``cuda:0``); default ``device``. ``request_gate`` limits
    concurrent LLM requests. Raises LassiError when the trial cannot run at all.
    """
    trial = next(
        (t for t in campaign.trials() if (t.app, t.device, t.index) == (app, device, index)),
        None,
    )
    if trial is None:
        raise LassiError(f"campaign {campaign.name} has no trial {index} of {app} on {device}")
    settings = campaign.settings()
    models = campaign.models_for(trial)
    with open_trials(settings) as trials:
        stored = trials.read(trial.thread_id)
        if stored is not None:
            result = resume_graph(
                trial.thread_id,
                settings=settings,
                models=models,
                checkpointer=trials.saver,
                on_update=on_update,
                request_gate=request_gate,
                device=run_on or device,
            )
        else:
            result = run_graph(
                campaign.app(app).path,
                run_on or device,
                thread_id=trial.thread_id,
                settings=settings,
                models=models,
                checkpointer=trials.saver,
                on_update=on_update,
                request_gate=request_gate,
            )
    if result.status == "interrupted":  # an outage: no result, the next run resumes it
        what = (result.stop_reason or "").removesuffix(f"; {resume_hint(trial.thread_id)}")
        raise LassiError(f"trial {trial.thread_id} {what}; the next campaign run resumes it")
    if result.status == "unfinished":
        raise LassiError(f"trial {trial.thread_id} stopped before its end; rerun to resume it")
    return TrialRecord.from_result(trial, result)


# --- status -------------------------------------------------------------------------------

Progress = Literal["finished", "cut_off", "pending"]


class TaskStatus(BaseModel):
    """Where one app on one device stands."""

    app: str
    device: str
    trials: int
    finished: int = 0
    improved: int = 0
    failed: int = 0
    cut_off: int = 0
    pending: int = 0


def trial_states(campaign: Campaign, store: ResultsStore) -> dict[CampaignTrial, Progress]:
    """Finished (recorded), cut off (checkpoints, no record) or pending (nothing yet)."""
    finished = store.finished(campaign.name)
    states: dict[CampaignTrial, Progress] = {}
    # Opening creates the checkpoint database when there is none, ready for the workers of
    # several devices to write at once (see open_trials).
    with open_trials(campaign.settings()) as trials:
        for trial in campaign.trials():
            if (trial.app, trial.device, trial.index) in finished:
                states[trial] = "finished"
            else:
                states[trial] = "cut_off" if trials.started(trial.thread_id) else "pending"
    return states


def campaign_records(campaign: Campaign, store: ResultsStore) -> list[TrialRecord]:
    """The records of the trials the campaign file defines now: a file whose n or apps
    changed since some trials ran reports on what it asks for."""
    wanted = {(t.app, t.device, t.index) for t in campaign.trials()}
    return [record for record in store.records(campaign.name) if record.key in wanted]


def campaign_status(campaign: Campaign, store: ResultsStore | None) -> list[TaskStatus]:
    """Each task's trials by state; ``store`` None: the campaign never ran (all pending)."""
    tasks = {
        (app.name, device): TaskStatus(app=app.name, device=device, trials=campaign.spec.trials)
        for device in campaign.devices
        for app in campaign.apps
    }
    if store is None:
        for task in tasks.values():
            task.pending = task.trials
        return list(tasks.values())
    records = {record.key: record for record in campaign_records(campaign, store)}
    for trial, state in trial_states(campaign, store).items():
        task = tasks[(trial.app, trial.device)]
        setattr(task, state, getattr(task, state) + 1)
        record = records.get((trial.app, trial.device, trial.index))
        if record is not None:
            task.improved += record.status == "improved"
            task.failed += record.status == "failed"
    return list(tasks.values())


# --- what any engine reports -----------------------------------------------------------------


class TrialEvent(BaseModel):
    """What a worker tells the campaign process about a trial."""

    kind: Literal["started", "finished", "error"]
    trial: CampaignTrial
    resumed: bool = False
    record: TrialRecord | None = None
    message: str = ""
    where: str = Field("", description="host and pid of the worker, where an engine says")


class RunSummary(BaseModel):
    skipped: int
    finished: int = 0
    errors: int = 0
    workers_lost: list[str] = Field(
        default_factory=list,
        description="local: devices whose worker died; Ray: trials whose worker died every try",
    )


OnEvent = Callable[[TrialEvent], None]


def error_line(error: Exception) -> tuple[str, str | None]:
    """One line for the console, and the traceback of an unexpected (non-Lassi) error."""
    if isinstance(error, LassiError):
        return str(error).splitlines()[0], None
    detail = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {detail}", "".join(traceback.format_exception(error))


def describe_error(
    campaign: Campaign, trial: CampaignTrial, line: str, traceback_text: str | None
) -> str:
    """The console line of a failed trial; a traceback goes to DIRECTORY/errors/THREAD.txt."""
    if traceback_text is None:
        return line
    log = campaign.directory / "errors" / f"{trial.thread_id}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(traceback_text)
    return f"{line} (see {log})"


# --- the local engine ----------------------------------------------------------------------


def run_local(campaign: Campaign, on_event: OnEvent | None = None) -> RunSummary:
    """Run every unfinished trial: one worker process per device, in parallel.

    Blocks until all workers are done. Ctrl-C stops the workers and re-raises
    KeyboardInterrupt; cut-off trials resume on the next run.
    """
    store = ResultsStore(campaign.store_path)
    with campaign_lock(campaign):
        states = trial_states(campaign, store)
        todo = [trial for trial, state in states.items() if state != "finished"]
        summary = RunSummary(skipped=len(states) - len(todo))
        if not todo:
            return summary
        resumed = {trial.thread_id for trial in todo if states[trial] == "cut_off"}
        context = multiprocessing.get_context("spawn")
        events: Any = context.Queue()
        workers = {}
        for device in campaign.devices:
            queue_of_device = [t for t in todo if t.device == device]
            if queue_of_device:
                workers[device] = context.Process(
                    target=device_worker,
                    args=(campaign, queue_of_device, resumed, events, os.getpid()),
                    name=f"lassi-ee-{device_label(device)}",
                )
        for worker in workers.values():
            worker.start()
        try:
            _follow(workers, events, summary, on_event)
        except BaseException:  # Ctrl-C: workers ignore SIGINT; stop them here
            for worker in workers.values():
                worker.terminate()
            raise
        finally:
            for worker in workers.values():
                worker.join()
        return summary


def _follow(
    workers: dict[str, Any], events: Any, summary: RunSummary, on_event: OnEvent | None
) -> None:
    """Pass events on until every worker has exited and every event is read."""
    while True:
        try:
            event: TrialEvent = events.get(timeout=0.2)
        except queue.Empty:
            if any(worker.is_alive() for worker in workers.values()):
                continue
            break
        summary.finished += event.kind == "finished"
        summary.errors += event.kind == "error"
        if on_event is not None:
            on_event(event)
    summary.workers_lost = [
        device for device, worker in workers.items() if worker.exitcode not in (0, None)
    ]


def device_worker(
    campaign: Campaign,
    trials: list[CampaignTrial],
    resumed: set[str],
    events: Any,
    parent_pid: int,
) -> None:
    """One device's queue, one trial at a time; each record stored as its trial ends."""
    _die_with(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the campaign process decides on Ctrl-C
    store = ResultsStore(campaign.store_path)
    for trial in trials:
        was_cut_off = trial.thread_id in resumed
        events.put(TrialEvent(kind="started", trial=trial, resumed=was_cut_off))
        try:
            record = run_campaign_trial(campaign, trial.app, trial.device, trial.index)
            store.record(record)
        except Exception as error:  # one broken trial must not stop the device's queue
            message = describe_error(campaign, trial, *error_line(error))
            events.put(TrialEvent(kind="error", trial=trial, message=message))
            continue
        events.put(TrialEvent(kind="finished", trial=trial, record=record))


def _die_with(parent_pid: int) -> None:
    """Make the kernel kill this worker when the campaign process dies (even by SIGKILL),
    so that no orphan goes on running trials beside a rerun."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the call above
        os._exit(1)


@contextlib.contextmanager
def campaign_lock(campaign: Campaign) -> Iterator[None]:
    """One running instance per campaign; the kernel drops the lock when its holder dies."""
    path = campaign.directory / "campaign.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LassiError(
                f"campaign {campaign.name} is already running ({holder}): "
                "wait for it, or stop it first"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
