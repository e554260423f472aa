"""What a trial needs to resume on another GPU or node, as a Ray retry may: its device is
re-pinned to the one it resumes on (same model only), and trials of one app that start
together measure the source once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lassi_ee.apps import load_app
from lassi_ee.campaign.runner import run_campaign_trial
from lassi_ee.campaign.spec import load_campaign
from lassi_ee.devices import cpu_device
from lassi_ee.errors import LassiError
from lassi_ee.nodes.profile_source import measure_source
from lassi_ee.settings import Settings
from lassi_ee.trials import open_trials, read_trial
from tests.helpers import scaleout_models


@pytest.mark.trial
def test_a_cut_off_trial_resumes_on_another_device_of_the_same_model(
    write_campaign: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    campaign = load_campaign(write_campaign(name="moved", apps=["apps/spin.cpp"], trials=1, ks=[1]))
    thread = "moved-spin-cpu-000"
    crash = scaleout_models.control_dir("moved") / f"crash-{thread}"
    crash.touch()
    with pytest.raises(RuntimeError, match="judge crashed"):
        run_campaign_trial(campaign, "spin", "cpu", 0)
    settings = campaign.settings()
    with open_trials(settings) as trials:
        before = trials.read(thread)
        assert before is not None
        pinned = before.state["device_info"]
        assert before.next_steps == ("judge_candidate",)

        other_model = pinned.model_copy(update={"name": "Another CPU"})
        with pytest.raises(LassiError, match="cannot resume on Another CPU"):
            trials.repin_device(thread, other_model)
        elsewhere = pinned.model_copy(update={"visible_id": "elsewhere", "board": "elsewhere"})
        trials.repin_device(thread, elsewhere)
        after = trials.read(thread)
        assert after is not None
        assert after.state["device_info"] == elsewhere
        assert after.next_steps == before.next_steps  # the cut-off step runs next, as before
        assert after.state["history"] == before.state["history"]

    # the checkpoint now says "elsewhere", as one written on another node would: resuming
    # here points the trial back at this machine's device before anything runs
    crash.unlink()
    with caplog.at_level(logging.WARNING, logger="lassi_ee.trials"):
        record = run_campaign_trial(campaign, "spin", "cpu", 0)
    assert (
        f"trial {thread} resumes on cpu (board {pinned.board}), not cpu (board elsewhere)"
    ) in caplog.text
    assert record.status == "improved" and record.vanilla_outcome == "improved"
    state = read_trial(thread, settings).state
    assert state["device_info"] == pinned
    assert state.get("board_moves", []) == []  # back on the board its figures are from
    assert not (settings.lock_dir / "cpu-elsewhere.lock").exists()  # nothing measured there


def test_trials_of_one_app_starting_together_measure_the_source_once(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "spin.cpp"
    source.write_text(scaleout_models.campaign_models.variants("spin")["source"])
    app = load_app(source)
    fast = settings.model_copy(
        update={"repeats": 2, "min_window_s": 0.1, "cache_dir": tmp_path / "cache"}
    )
    references = []

    def measure(index: int) -> None:
        references.append(measure_source(app, cpu_device(), fast, tmp_path / f"build{index}"))

    threads = [threading.Thread(target=measure, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reference.from_cache for reference in references) == [False, True]
    assert references[0].profile.runtime_s == references[1].profile.runtime_s
