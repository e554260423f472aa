"""A trial SIGKILLed at several points and resumed ends as an uninterrupted one, and
repeats no completed step: no LLM call re-issued, only the killed measurement and the
killed confirmation redone (a confirmation is one session: its pairs are never mixed
with another session's). The trials are the session's killed chain
(tests/helpers/killed_chain.py), killed after every step; the fault tests assert on it
too."""

from __future__ import annotations

import collections

import pytest

from lassi_ee.api import resume_graph
from lassi_ee.trials import read_trial
from tests.helpers.killed_chain import DEAD_S, KilledChain
from tests.helpers.trial_programs import scripted

pytestmark = pytest.mark.trial


def wall_s(settings, thread: str) -> float:
    """From Stage 0's start to the archive, dead time included."""
    state = read_trial(thread, settings).state
    return state["finished_unix"] - state["started_unix"]


def test_a_cut_off_trial_is_shown_unfinished_with_how_to_go_on(killed_chain: KilledChain):
    cut_off = killed_chain.cut_off  # after its first kill
    assert cut_off.status == "unfinished" and cut_off.pipeline_s is None
    shown = " ".join(killed_chain.cut_off_printed.split())
    assert "stopped: not yet (`lassi-ee resume killed` continues it)" in shown


def test_killed_at_several_points_then_resumed_matches_an_uninterrupted_trial(
    killed_chain: KilledChain,
):
    settings = killed_chain.settings
    assert killed_chain.straight_exit == 0 and killed_chain.last_exit == 0
    straight = resume_graph("straight", settings=settings, models=scripted())
    resumed = resume_graph("killed", settings=settings, models=scripted())
    assert resumed.status == straight.status == "improved"
    assert resumed.best_version == straight.best_version
    assert resumed.stop_reason == straight.stop_reason
    assert resumed.versions == straight.versions and resumed.iterations == straight.iterations
    assert resumed.best_code == straight.best_code

    straight_calls = collections.Counter(killed_chain.straight_log.read_text().split("\n"))
    killed_calls = collections.Counter(killed_chain.killed_log.read_text().split("\n"))
    measurements = killed_calls.pop("measure") - straight_calls.pop("measure")
    confirmations = killed_calls.pop("confirm") - straight_calls.pop("confirm")
    assert killed_calls == straight_calls  # no LLM call or step was made twice
    assert measurements == 1  # only the measurement cut off mid-way was redone
    assert confirmations == 1  # and only the confirmation cut off mid-way
    # its running time leaves out the time it lay dead (and the restarts' own start-up)
    assert 0 < straight.pipeline_s <= wall_s(settings, "straight")
    assert 0 < resumed.pipeline_s <= wall_s(settings, "killed") - DEAD_S
