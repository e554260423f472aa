"""Fixtures of the scale-out tests: campaign files over the campaign tests' tiny apps with
scripted models, one Ray instance per module on this machine, and a real PostgreSQL server
on 127.0.0.1, started by the test run and stopped at its end."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import lassi_ee
from tests.helpers.campaign_programs import APPS, variants
from tests.helpers.ports import free_port
from tests.helpers.scaleout_models import CONTROL, FACTORY_REF

REPO_ROOT = Path(lassi_ee.__file__).resolve().parents[1]


def _clean_env() -> dict[str, str]:
    """This process's environment without LASSI_*/OPENAI_* (the machine's must not leak)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LASSI_", "OPENAI_"))}


@pytest.fixture(scope="session")
def control_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("control")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, control_root: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("LASSI_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LASSI_CONFIG", os.devnull)  # no config file
    monkeypatch.setenv(CONTROL, str(control_root))


@pytest.fixture
def write_campaign(tmp_path: Path, settings: Any) -> Callable[..., Path]:
    """Write a YAML campaign of the two tiny apps on cpu; keyword arguments replace keys,
    ``settings`` entries are added to the short test settings."""
    apps = tmp_path / "apps"
    apps.mkdir()
    for app in APPS:
        (apps / f"{app}.cpp").write_text(variants(app)["source"])

    def write(**keys: Any) -> Path:
        spec: dict[str, Any] = {
            "name": "smoke",
            "apps": ["apps/*.cpp"],
            "devices": ["cpu"],
            "trials": 2,
            "ks": [1, 2],
            "models_factory": FACTORY_REF,
            "settings": {
                "work_root": str(settings.work_root),
                "lock_dir": str(settings.lock_dir),
                "run_timeout_s": 60,
                "compile_timeout_s": 120,
                "repeats": 2,
                "min_window_s": 0.1,
                "max_iterations": 2,
                **keys.pop("settings", {}),
            },
        }
        spec.update(keys)
        path = tmp_path / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


# --- Ray ------------------------------------------------------------------------------------


@contextlib.contextmanager
def ray_worker_env(control_root: Path) -> Iterator[None]:
    """The environment Ray processes started inside this block keep: the worktree on
    PYTHONPATH (so workers import this lassi_ee and the test helpers), the control folder of
    scaleout_models, no LASSI_* variables."""
    env = _clean_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env[CONTROL] = str(control_root)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def ray_instance(control_root: Path) -> Iterator[None]:
    """Ray on this machine: 2 CPUs and 2 GPU-like "fake_gpu" resources. The node address
    127.0.0.1 does not close Ray's ports, which listen on every interface
    (docs/SCALEOUT.md)."""
    import ray

    with ray_worker_env(control_root):
        ray.init(
            address="local",  # a new instance, even if `ray start` left one running here
            num_cpus=2,
            resources={"fake_gpu": 2},
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
        )
    try:
        yield
    finally:
        ray.shutdown()


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.skip("no PostgreSQL server here: `make system-deps` installs Debian's postgresql")


def _version(path: str) -> int:
    part = Path(path).parents[1].name
    return int(part) if part.isdigit() else 0


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust authentication, user lassi).

    initdb refuses to run as root, so as root the server runs as the postgres user
    (or nobody) with its data in a temporary folder that user owns."""
    binaries = _postgres_bin()
    data = Path(tempfile.mkdtemp(prefix="lassi-pg-"))
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = pwd.getpwnam("nobody")
        os.chown(data, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    port = free_port()

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binaries / args[0]), *args[1:]],
            cwd=data, capture_output=True, text=True, timeout=120, env=_clean_env(), **as_user,
        )  # fmt: skip

    cluster = data / "cluster"
    initdb = pg("initdb", "-D", str(cluster), "-U", "lassi", "--auth=trust", "-E", "UTF8")
    assert initdb.returncode == 0, initdb.stdout + initdb.stderr
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={data} -c fsync=off"
    )
    start = pg("pg_ctl", "-D", str(cluster), "-o", options, "-l", str(data / "log"), "-w", "start")
    assert start.returncode == 0, start.stdout + start.stderr + (data / "log").read_text()
    try:
        yield f"postgresql://lassi@127.0.0.1:{port}/postgres"
    finally:
        pg("pg_ctl", "-D", str(cluster), "-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)
