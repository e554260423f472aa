"""The Ray engine: every unfinished trial a Ray task holding one GPU, anywhere on a cluster.

``run_ray`` is the campaign process (the driver). It submits one task per pending
or cut-off trial, asking for the resources the campaign file names for the
trial's device kind (default: one whole ``GPU`` for cuda and rocm, so no two
trials share one, and one ``CPU`` for cpu). Inside the task the trial runs on the
GPU Ray assigned (``cuda:0``/``rocm:0``: Ray sets CUDA_VISIBLE_DEVICES or
HIP_VISIBLE_DEVICES to it), under the campaign's deterministic thread id; the
energy lock still keeps anything else on the node off that GPU while it measures.

Each task returns its TrialRecord and the driver writes it to the campaign
store, so results come home whatever node ran the trial. A task whose worker or
node dies is rerun by Ray (``ray.max_retries`` in the campaign file) and resumes
from the trial's checkpoints, which every node reaches when ``checkpoint_url`` is
a postgres:// URL. A trial that fails with an error is reported once and not
retried; a rerun of the campaign retries it, as with the local engine.

``llm_max_concurrent`` becomes a cluster-wide limit: one named, detached actor
per LLM endpoint hands out request slots (leases that expire, so a worker lost
mid-request gives its slot back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from lassi_ee.campaign.runner import (
    OnEvent,
    RunSummary,
    TrialEvent,
    campaign_lock,
    describe_error,
    error_line,
    run_campaign_trial,
    trial_states,
)
from lassi_ee.campaign.spec import Campaign, CampaignTrial
from lassi_ee.campaign.store import ResultsStore, TrialRecord
from lassi_ee.errors import LassiError
from lassi_ee.llm.gate import RequestGate, endpoint_of
from lassi_ee.settings import Settings
from lassi_ee.trials import is_postgres, open_trials

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
    from ray.util.queue import Queue
except ImportError:  # pragma: no cover - the ray extra is missing
    raise LassiError("--engine ray needs Ray: pip install 'lassi-ee[ray]'") from None

log = logging.getLogger(__name__)

NAMESPACE = "lassi-ee"  # the request-slot actors live here, shared by every campaign
POLL_S = 0.5


# --- where a trial runs ---------------------------------------------------------------------


def task_options(request: dict[str, float]) -> dict[str, Any]:
    """Ray task options for a resource request such as {"GPU": 1} or {"fake_gpu": 1}."""
    options: dict[str, Any] = {}
    custom = {name: amount for name, amount in request.items() if name not in ("CPU", "GPU")}
    if "CPU" in request:
        options["num_cpus"] = request["CPU"]
    if "GPU" in request:
        options["num_gpus"] = request["GPU"]
    if custom:
        options["resources"] = custom
    return options


def device_in_task(device: str, request: dict[str, float]) -> str:
    """The device spec a task runs its trial on: the first (only) GPU Ray made visible
    when the request holds a GPU, else the campaign's spec as written."""
    kind = device.split(":")[0]
    if kind in ("cuda", "rocm") and "GPU" in request:
        return f"{kind}:0"
    return device


# --- the task ---------------------------------------------------------------------------------


class TaskOutcome(BaseModel):
    """What a trial's task sends back to the driver."""

    record: TrialRecord | None = None
    error: str | None = None  # one line
    traceback: str | None = None  # of an unexpected error, written beside the campaign
    where: str
    started_unix: float
    finished_unix: float


def run_trial_task(
    campaign: Campaign, trial: CampaignTrial, run_on: str, events: Any
) -> TaskOutcome:
    """Run (or resume) one trial in a Ray worker; errors come back as values, so that
    Ray retries only a worker that died."""
    started = time.time()
    where = f"{socket.gethostname()} pid {os.getpid()}"
    try:
        settings = campaign.settings()
        with open_trials(settings) as trials:
            resumed = trials.started(trial.thread_id)
        events.put(TrialEvent(kind="started", trial=trial, resumed=resumed, where=where))
        record = run_campaign_trial(
            campaign,
            trial.app,
            trial.device,
            trial.index,
            run_on=run_on,
            request_gate=ray_request_gate(settings),
        )
    except Exception as error:  # reported once by the driver, never retried by Ray
        line, traceback_text = error_line(error)
        return TaskOutcome(
            error=line,
            traceback=traceback_text,
            where=where,
            started_unix=started,
            finished_unix=time.time(),
        )
    return TaskOutcome(record=record, where=where, started_unix=started, finished_unix=time.time())


_remote_trial = ray.remote(run_trial_task)


# --- the cluster-wide LLM limit -----------------------------------------------------------------


@ray.remote(num_cpus=0)
class RequestSlots:
    """At most ``limit`` LLM requests in flight for one endpoint, across the cluster.

    A slot is a lease: one its holder never returns (its worker died mid-request)
    expires after ``lease_s``. The limit travels with each request, so the
    latest campaign's setting applies.
    """

    def __init__(self) -> None:
        self._leases: dict[str, float] = {}  # token -> monotonic expiry
        self._changed = asyncio.Condition()

    async def acquire(self, limit: int, lease_s: float) -> str:
        async with self._changed:
            while True:
                now = time.monotonic()
                self._leases = {t: end for t, end in self._leases.items() if end > now}
                if len(self._leases) < limit:
                    break
                first_expiry = min(self._leases.values()) - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=first_expiry)
            token = uuid.uuid4().hex
            self._leases[token] = now + lease_s
            return token

    async def release(self, token: str) -> None:
        async with self._changed:
            self._leases.pop(token, None)
            self._changed.notify_all()

    async def in_flight(self) -> int:
        now = time.monotonic()
        return sum(end > now for end in self._leases.values())


def request_slots(endpoint: str) -> Any:
    """The endpoint's slot actor, created by whoever asks first (it outlives campaigns)."""
    return RequestSlots.options(  # type: ignore[attr-defined]
        name=f"llm-requests:{endpoint}",
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
    ).remote()


def ray_request_gate(settings: Settings) -> RequestGate | None:
    """A gate that holds one of the endpoint's cluster-wide slots around each request;
    None (no limit) when ``llm_max_concurrent`` is unset."""
    limit = settings.llm_max_concurrent
    if limit is None:
        return None
    slots = request_slots(endpoint_of(settings))
    # a request may be sent twice under one slot (once more without temperature)
    lease_s = 2 * settings.request_timeout_s + 60

    @contextlib.contextmanager
    def gate() -> Iterator[None]:
        token = ray.get(slots.acquire.remote(limit, lease_s))
        try:
            yield
        finally:
            slots.release.remote(token)

    return gate


# --- the driver ---------------------------------------------------------------------------------


class TaskTiming(BaseModel):
    """When a trial's task was submitted, started and ended (for the scale-out benchmark)."""

    thread_id: str
    where: str
    submitted_unix: float
    started_unix: float
    finished_unix: float


class RaySummary(RunSummary):
    timings: list[TaskTiming] = Field(default_factory=list)


def run_ray(
    campaign: Campaign, address: str | None = None, on_event: OnEvent | None = None
) -> RaySummary:
    """Run every unfinished trial as a Ray task and store each record as it returns.

    ``address``: a Ray cluster ("auto", "ray://host:10001", host:port), or "local" for
    a new Ray instance on this machine. None is Ray's
    default: RAY_ADDRESS, else a cluster ``ray start`` began on this machine, else a
    new Ray instance here (a process already connected stays on its cluster). Blocks
    until every task has ended; Ctrl-C cancels the tasks and re-raises
    KeyboardInterrupt (cut-off trials resume on the next run).
    """
    store = ResultsStore(campaign.store_path)
    with campaign_lock(campaign):
        states = trial_states(campaign, store)
        todo = [trial for trial, state in states.items() if state != "finished"]
        summary = RaySummary(skipped=len(states) - len(todo))
        if not todo:
            return summary
        settings = campaign.settings()
        connected_here = _connect(address)
        try:
            _check_cluster(campaign, todo, settings)
            _run_tasks(campaign, todo, store, summary, on_event)
        finally:
            if connected_here:
                ray.shutdown()
        return summary


def _connect(address: str | None) -> bool:
    """Join (or start) Ray unless this process is connected; True if we connected."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = address or os.environ.get("RAY_ADDRESS") or "this machine"
        raise LassiError(
            f"cannot reach or start a Ray cluster at {where} ({str(error).splitlines()[0]}): "
            "check --address, or start one with `ray start --head`"
        ) from None
    return True


def _check_cluster(campaign: Campaign, todo: list[CampaignTrial], settings: Settings) -> None:
    """Refuse a request no node can meet (its tasks would wait forever) and warn about
    checkpoints that other nodes cannot reach."""
    offered = ray.cluster_resources()
    for device in sorted({trial.device for trial in todo}):
        request = campaign.spec.ray.resources_for(device)
        missing = [name for name, amount in request.items() if offered.get(name, 0) < amount]
        if missing:
            have = ", ".join(f"{name} {amount:g}" for name, amount in sorted(offered.items()))
            raise LassiError(
                f"no node of the Ray cluster offers {', '.join(missing)} for the {device} "
                f"trials (it has {have}): start workers that have it, or set "
                f"ray.resources.{device.split(':')[0]} in {campaign.file}"
            )
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    if nodes > 1 and not is_postgres(settings.checkpoint_url):
        log.warning(
            "checkpoints are in the SQLite file %s but the Ray cluster has %d nodes: set "
            "checkpoint_url to a postgres:// URL so that every node reaches them",
            settings.checkpoint_url,
            nodes,
        )


def _run_tasks(
    campaign: Campaign,
    todo: list[CampaignTrial],
    store: ResultsStore,
    summary: RaySummary,
    on_event: OnEvent | None,
) -> None:
    events = Queue(actor_options={"num_cpus": 0})
    retries = campaign.spec.ray.max_retries
    pending: dict[Any, tuple[CampaignTrial, float]] = {}
    for trial in todo:
        request = campaign.spec.ray.resources_for(trial.device)
        task = _remote_trial.options(
            name=trial.thread_id,
            max_retries=retries,
            retry_exceptions=False,
            **task_options(request),
        )
        run_on = device_in_task(trial.device, request)
        pending[task.remote(campaign, trial, run_on, events)] = (trial, time.time())

    def emit(event: TrialEvent) -> None:
        summary.finished += event.kind == "finished"
        summary.errors += event.kind == "error"
        if on_event is not None:
            on_event(event)

    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            while not events.empty():  # a task's "started" comes before its result
                emit(events.get_nowait())
            for ref in ready:
                trial, submitted = pending.pop(ref)
                try:
                    outcome: TaskOutcome = ray.get(ref)
                except RayError as error:
                    emit(_lost(trial, error, retries, summary))
                    continue
                if outcome.record is not None:
                    store.record(outcome.record)
                    emit(TrialEvent(kind="finished", trial=trial, record=outcome.record))
                    summary.timings.append(
                        TaskTiming(
                            thread_id=trial.thread_id,
                            where=outcome.where,
                            submitted_unix=submitted,
                            started_unix=outcome.started_unix,
                            finished_unix=outcome.finished_unix,
                        )
                    )
                else:
                    message = describe_error(
                        campaign, trial, outcome.error or "failed", outcome.traceback
                    )
                    emit(TrialEvent(kind="error", trial=trial, message=message))
    except BaseException:  # Ctrl-C: stop the trials; their checkpoints let a rerun resume them
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _lost(trial: CampaignTrial, error: RayError, retries: int, summary: RaySummary) -> TrialEvent:
    """The event of a task Ray gave up on: its worker died on every try, or Ray failed it."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, RayTaskError):
        return TrialEvent(kind="error", trial=trial, message=f"Ray failed the task: {detail}")
    summary.workers_lost.append(trial.thread_id)
    return TrialEvent(
        kind="error",
        trial=trial,
        message=f"its worker died on all {retries + 1} tries ({type(error).__name__}); "
        "a rerun resumes it from its checkpoint",
    )
