"""The campaign file's ray section, and what a trial's task asks Ray for and runs on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed")

from lassi_ee.campaign.ray_engine import device_in_task, task_options
from lassi_ee.campaign.spec import load_campaign
from lassi_ee.errors import UsageError


def test_defaults_give_each_gpu_trial_one_whole_gpu(write_campaign: Callable[..., Path]) -> None:
    ray = load_campaign(write_campaign()).spec.ray
    assert ray.max_retries == 3
    assert ray.resources_for("cuda:1") == {"GPU": 1}
    assert ray.resources_for("rocm:0") == {"GPU": 1}
    assert ray.resources_for("cpu") == {"CPU": 1}


def test_the_file_sets_the_request_per_device_kind(write_campaign: Callable[..., Path]) -> None:
    path = write_campaign(ray={"resources": {"cpu": {"fake_gpu": 1}, "rocm": {"GPU": 1, "amd": 1}}})
    ray = load_campaign(path).spec.ray
    assert ray.resources_for("cpu") == {"fake_gpu": 1}
    assert ray.resources_for("rocm:3") == {"GPU": 1, "amd": 1}
    assert ray.resources_for("cuda:0") == {"GPU": 1}  # not named: the default


@pytest.mark.parametrize(
    ("ray", "problem"),
    [
        ({"resources": {"cuda": {"GPU": 0.5}}}, "GPU must be a whole number: trials never share"),
        ({"resources": {"cpu": {}}}, "name each resource with a positive amount"),
        ({"resources": {"tpu": {"TPU": 1}}}, "Input should be 'cuda', 'rocm' or 'cpu'"),
        ({"max_retries": -1}, "greater than or equal to 0"),
        ({"retries": 2}, "unknown key; the keys here are resources, max_retries"),
    ],
)
def test_a_bad_ray_section_is_reported_with_its_line(
    write_campaign: Callable[..., Path], ray: dict, problem: str
) -> None:
    with pytest.raises(UsageError, match="1 problem") as error:
        load_campaign(write_campaign(ray=ray))
    assert problem in str(error.value)
    assert "line " in str(error.value) and "ray." in str(error.value)


def test_task_options_and_the_device_a_task_runs_on() -> None:
    assert task_options({"GPU": 1}) == {"num_gpus": 1}
    assert task_options({"CPU": 2, "GPU": 1, "accelerator_type:H100": 0.001}) == {
        "num_cpus": 2,
        "num_gpus": 1,
        "resources": {"accelerator_type:H100": 0.001},
    }
    assert device_in_task("cuda:3", {"GPU": 1}) == "cuda:0"  # the one GPU Ray made visible
    assert device_in_task("rocm:1", {"GPU": 1}) == "rocm:0"
    assert device_in_task("cuda:3", {"gpu3": 1}) == "cuda:3"  # no GPU from Ray: as written
    assert device_in_task("cpu", {"fake_gpu": 1}) == "cpu"
