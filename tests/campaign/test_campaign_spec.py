"""Campaign files: what a valid one means, and every problem of a bad one, with its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lassi_ee.campaign.locations import toml_lines
from lassi_ee.campaign.spec import CampaignTrial, load_campaign
from lassi_ee.cli import main
from lassi_ee.errors import UsageError
from lassi_ee.llm.fake import RoleScriptedChatModel
from tests.helpers import campaign_models
from tests.helpers.campaign_programs import variants

FACTORY_FILE = f"{Path(campaign_models.__file__).resolve()}:build"  # as a user names one
MANIFEST = """name: jacobi
language: openmp
refactor: main.cpp
"""


@pytest.fixture
def project(tmp_path: Path, apps_dir: Path) -> Path:
    """apps/spin.cpp, apps/wait.cpp, an app directory apps/jacobi-omp, and a folder for
    campaign files one level below, so that relative paths are visibly file-relative."""
    jacobi = apps_dir / "jacobi-omp"
    jacobi.mkdir()
    (jacobi / "app.yaml").write_text(MANIFEST)
    (jacobi / "main.cpp").write_text(variants("spin")["source"])
    (tmp_path / "campaigns-src").mkdir()
    return tmp_path


YAML_SPEC = f"""name: omp-smoke
apps:
  - ../apps/*.cpp
  - ../apps/jacobi-omp
devices: [cpu, CUDA:1, rocm]
trials: 3
models:
  generate: gpt-4o
  judge: gpt-4o-mini
  base_url: http://127.0.0.1:8000/v1
models_factory: {FACTORY_FILE}
settings:
  repeats: 2
  docs_paths: [notes/cuda.md]
"""

TOML_SPEC = f"""name = "omp-smoke"
apps = [
  "../apps/*.cpp",      # every single-file app
  "../apps/jacobi-omp",
]
devices = ["cpu", "CUDA:1", "rocm"]
trials = 3
models_factory = "{FACTORY_FILE}"

[models]
generate = "gpt-4o"
judge = "gpt-4o-mini"
base_url = "http://127.0.0.1:8000/v1"

[settings]
repeats = 2
docs_paths = ["notes/cuda.md"]
"""


def test_a_yaml_campaign_resolves_apps_devices_and_paths_from_the_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "campaigns-src" / "campaign.yaml"
    path.write_text(YAML_SPEC)
    monkeypatch.chdir(project / "apps")  # paths must not depend on the working directory
    campaign = load_campaign(path)
    assert [(app.name, app.path) for app in campaign.apps] == [
        ("spin", project / "apps" / "spin.cpp"),
        ("wait", project / "apps" / "wait.cpp"),
        ("jacobi", project / "apps" / "jacobi-omp"),
    ]
    assert campaign.devices == ["cpu", "cuda:1", "rocm:0"]
    assert campaign.ks == [1, 3]  # the default 1, 3, 5 up to n = 3
    assert campaign.directory == project / "campaigns-src" / "campaigns" / "omp-smoke"
    assert campaign.store_path == campaign.directory / "results.sqlite"
    trials = campaign.trials()
    assert len(trials) == 3 * 3 * 3
    assert len({t.thread_id for t in trials}) == len(trials)
    assert campaign.thread_id("jacobi", "cuda:1", 2) == "omp-smoke-jacobi-cuda1-002"

    settings = campaign.settings()
    assert settings.checkpoint_url == str(campaign.directory / "checkpoints.sqlite")
    assert settings.runs_dir == campaign.directory / "runs"
    assert settings.cache_dir == campaign.directory / "source-cache"
    assert settings.repeats == 2
    assert settings.docs_paths == [project / "campaigns-src" / "notes" / "cuda.md"]
    assert (settings.generate_model, settings.judge_model) == ("gpt-4o", "gpt-4o-mini")
    assert settings.base_url == "http://127.0.0.1:8000/v1"

    model = campaign.models_for(trials[0])
    assert isinstance(model, RoleScriptedChatModel)


def test_a_toml_campaign_means_the_same_as_its_yaml_twin(project: Path) -> None:
    (project / "campaigns-src" / "campaign.yaml").write_text(YAML_SPEC)
    (project / "campaigns-src" / "campaign.toml").write_text(TOML_SPEC)
    from_yaml = load_campaign(project / "campaigns-src" / "campaign.yaml")
    from_toml = load_campaign(project / "campaigns-src" / "campaign.toml")
    assert from_toml.spec == from_yaml.spec
    assert from_toml.apps == from_yaml.apps
    assert from_toml.settings() == from_yaml.settings()


def test_explicit_ks_directory_and_store_are_used(project: Path) -> None:
    path = project / "c.yaml"
    path.write_text(
        "name: x\napps: [apps/spin.cpp]\ndevices: [cpu]\ntrials: 5\nks: [5, 1, 1]\n"
        "directory: out/x\nstore: db/results.sqlite\nsettings: {checkpoint_url: cp.sqlite}\n"
    )
    campaign = load_campaign(path)
    assert campaign.ks == [1, 5]
    assert campaign.directory == project / "out" / "x"
    assert campaign.store_path == project / "db" / "results.sqlite"
    assert campaign.settings().checkpoint_url == str(project / "cp.sqlite")
    assert campaign.models_for(campaign.trials()[0]) is None  # settings name the models


BAD_YAML = """name: "bad name!"
apps:
  - apps/spin.cpp
  - nothing/*
devices: [cpu, gpu:0, auto]
trials: 2
ks: [1, 5]
models:
  generate: x
  genrate: y
models_factory: no_such_file.py:build
settings:
  repeats: many
  repets: 3
colour: blue
"""

BAD_TOML = """name = "bad name!"
apps = [
  "apps/spin.cpp",   # fine
  "nothing/*",
]
devices = ["cpu", "gpu:0", "auto"]
trials = 2
ks = [1, 5]
models_factory = "no_such_file.py:build"
colour = "blue"

[models]
generate = "x"
genrate = "y"

[settings]
repeats = "many"
repets = 3
"""

# (line, where) of every problem, for each file above
BAD_YAML_PROBLEMS = [
    (1, "name"),
    (4, "apps[1]"),
    (5, "devices[1]"),
    (5, "devices[2]"),
    (7, "ks"),
    (10, "models.genrate"),
    (11, "models_factory"),
    (13, "settings.repeats"),
    (14, "settings.repets"),
    (15, "colour"),
]
BAD_TOML_PROBLEMS = [
    (1, "name"),
    (4, "apps[1]"),
    (6, "devices[1]"),
    (6, "devices[2]"),
    (8, "ks"),
    (9, "models_factory"),
    (10, "colour"),
    (14, "models.genrate"),
    (17, "settings.repeats"),
    (18, "settings.repets"),
]


def _problems(message: str) -> list[tuple[int, str]]:
    return [
        (int(line), where) for line, where in re.findall(r"^  line (\d+): (\S+):", message, re.M)
    ]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [("bad.yaml", BAD_YAML, BAD_YAML_PROBLEMS), ("bad.toml", BAD_TOML, BAD_TOML_PROBLEMS)],
)
def test_every_problem_is_reported_at_once_with_its_line(
    project: Path, name: str, text: str, expected: list[tuple[int, str]]
) -> None:
    path = project / name
    path.write_text(text)
    with pytest.raises(UsageError) as raised:
        load_campaign(path)
    message = str(raised.value)
    assert message.splitlines()[0] == f"{path}: {len(expected)} problems; fix them and run again"
    assert _problems(message) == expected
    assert "'nothing/*' matches nothing" in message
    assert "unknown device 'gpu:0'" in message
    assert "'auto' is not allowed" in message
    assert "k=5 exceeds trials=2" in message
    assert "no_such_file.py: no such file" in message
    assert "settings.repets: not a setting" in message


def test_the_cli_prints_the_problems_under_one_line_and_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "bad.yaml"
    path.write_text(BAD_YAML)
    assert main(["campaign", "status", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"lassi-ee: {path}: {len(BAD_YAML_PROBLEMS)} problems; fix them and run again"
    assert _problems("\n".join(err[1:])) == BAD_YAML_PROBLEMS


def test_a_missing_key_is_reported_at_the_top(project: Path) -> None:
    path = project / "c.yaml"
    path.write_text("name: x\ndevices: [cpu]\n")
    with pytest.raises(UsageError) as raised:
        load_campaign(path)
    assert _problems(str(raised.value)) == [(1, "apps"), (1, "trials")]
    assert "required, but missing" in str(raised.value)


def test_two_apps_of_one_name_and_a_repeated_device_are_refused(project: Path) -> None:
    other = project / "other"
    other.mkdir()
    (other / "spin.cpp").write_text(variants("spin")["source"])
    path = project / "c.yaml"
    path.write_text(
        "name: x\napps:\n  - apps/spin.cpp\n  - other/spin.cpp\ndevices: [cpu, cuda:0, cuda]\n"
        "trials: 1\n"
    )
    with pytest.raises(UsageError) as raised:
        load_campaign(path)
    message = str(raised.value)
    assert _problems(message) == [(2, "apps"), (5, "devices")]
    assert "two apps are named 'spin'" in message
    assert "cuda:0 listed more than once" in message


def test_an_app_that_cannot_be_loaded_is_named(project: Path) -> None:
    (project / "apps" / "empty-omp").mkdir()
    path = project / "c.yaml"
    path.write_text("name: x\napps: [apps/empty-omp]\ndevices: [cpu]\ntrials: 1\n")
    with pytest.raises(UsageError, match=r"line 2: apps\[0\]: .*needs an app.yaml"):
        load_campaign(path)


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("campaign_models", "write it as package.module:callable"),
        ("no_such_module_here:build", "cannot import 'no_such_module_here'"),
        ("campaign_models:no_such_function", "has no callable 'no_such_function'"),
    ],
)
def test_a_bad_models_factory_is_reported(project: Path, ref: str, problem: str) -> None:
    path = project / "c.yaml"
    path.write_text(
        f"name: x\napps: [apps/spin.cpp]\ndevices: [cpu]\ntrials: 1\nmodels_factory: '{ref}'\n"
    )
    with pytest.raises(UsageError) as raised:
        load_campaign(path)
    assert _problems(str(raised.value)) == [(5, "models_factory")]
    assert problem in str(raised.value)


def test_a_factory_named_by_module_is_called_with_the_trial(project: Path) -> None:
    path = project / "c.yaml"
    path.write_text(
        "name: x\napps: [apps/spin.cpp]\ndevices: [cpu]\ntrials: 2\n"
        "models_factory: tests.helpers.campaign_models:build\n"
    )
    campaign = load_campaign(path)
    trial = campaign.trials()[1]
    assert trial == CampaignTrial(
        campaign="x", app="spin", device="cpu", index=1, thread_id="x-spin-cpu-001"
    )
    model = campaign.models_for(trial)
    assert isinstance(model, RoleScriptedChatModel)
    assert set(model.scripts) >= {"vanilla", "refactor", "judge", "plan"}


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("c.yaml", "name: x\napps: [a\ndevices: [cpu]\n", "not valid YAML at line 3"),
        ("c.toml", 'name = "x"\napps = [\n"a",\ndevices = 1\n', "not valid TOML"),
        ("c.yaml", "- just\n- a list\n", "expected a mapping of campaign keys"),
    ],
)
def test_a_file_that_does_not_parse_says_where(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=where):
        load_campaign(path)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such campaign file"):
        load_campaign(tmp_path / "absent.yaml")


def test_toml_positions_survive_comments_strings_and_inline_tables() -> None:
    text = (
        "# a comment with = and [brackets]\n"  # 1
        'name = "a # not a comment"\n'  # 2
        "apps = [ 'x,y', # comma in a string\n"  # 3
        '  """multi\n'  # 4
        'line""",\n'  # 5
        "  [1, 2],\n"  # 6
        "]\n"  # 7
        "models = { generate = 'g', judge = \"j\" }\n"  # 8
        "\n"  # 9
        '[settings."quoted key"]\n'  # 10
        "inner.deep = 1\n"  # 11
        "[[runs]]\n"  # 12
        "n = 2\n"  # 13
    )
    lines = toml_lines(text)
    assert lines[("name",)] == 2
    assert [lines[("apps", i)] for i in range(3)] == [3, 4, 6]
    assert lines[("apps", 2, 1)] == 6
    assert lines[("models", "judge")] == 8
    assert lines[("settings", "quoted key")] == 10
    assert lines[("settings", "quoted key", "inner", "deep")] == 11
    assert lines[("runs", "n")] == 13


def test_a_campaign_whose_thread_ids_would_be_too_long_is_refused(write_campaign) -> None:
    path = write_campaign(name="n" * 130)
    with pytest.raises(UsageError, match="characters long") as refused:
        load_campaign(path)
    assert "shorten the campaign's or the app's name" in str(refused.value)
