"""Stage 0's profiler on the GPU: what it finds on the CUDA examples, and what it costs.

    python3 benchmarks/ncu_stage0.py examples/jacobi2d ... --out DIR \
        [--device cuda:0] [--budget-s 480] [--compare-no-kill]

For each app this runs lassi-ee's own Stage 0 (``measure_source`` in
nodes/profile_source.py, with a cache of its own under DIR, so nothing is taken from an
earlier run): build, first run, energy measurement, the outputs on every input set, then
the profiler (tools/hotspots.py: one bounded ncu run, the power timeline's shape). It
prints what Stage 2's prompts would be told and what it cost: Stage 0 in all, the ncu
run alone, and the source's own runtime. ``--compare-no-kill`` profiles each source once
more with ncu letting the program run to its end after the profiled launches, to show
what stopping it saves and that the counters agree. Apps are skipped once
``--budget-s`` seconds have passed.

DIR/ncu-stage0.json keeps every figure; DIR/APP.ncu-raw.csv is ncu's CSV for APP.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from lassi_ee.apps import load_app
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import LassiError
from lassi_ee.nodes.profile_source import measure_source
from lassi_ee.settings import Settings
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.ncu import NcuProfile, profile_kernels
from lassi_ee.tools.profile import run_request


def _kernels(profile: NcuProfile | None) -> list[dict[str, Any]]:
    if profile is None:
        return []
    return [kernel.model_dump() for kernel in profile.kernels]


def _without_kill(app_dir: Path, device_spec: str, settings: Settings, out: Path) -> dict[str, Any]:
    """The same ncu run, but the program runs to its end after the profiled launches."""
    app = load_app(app_dir)
    device = resolve_device(device_spec)
    built = compile_app(CompileRequest(app=app, device=device, build_dir=out), settings)
    if not built.ok or built.binary is None:
        return {"note": "did not build"}
    with device_lock(device.lock_name, settings.lock_dir, settings.lock_timeout_s):
        run = profile_kernels(
            run_request(app, device, built.binary, settings), settings, stop_after_profiled=False
        )
    ncu_s = run.wall_s if run.command else None  # no command: ncu was not found
    return {"ncu_s": ncu_s, "note": run.note, "kernels": _kernels(run.profile)}


def profile_app_source(
    app_dir: Path, device_spec: str, settings: Settings, out: Path, compare: bool
) -> dict[str, Any]:
    """Stage 0 of one app, timed, with what its profiler found."""
    app = load_app(app_dir)
    device = resolve_device(device_spec)
    started = time.monotonic()
    reference = measure_source(app, device, settings, out / "build" / app.name)
    entry: dict[str, Any] = {
        "device": device.facts(),
        "source_runtime_s": reference.runtime_s,
        "stage0_s": round(time.monotonic() - started, 2),
        "measurement": reference.profile.summary(),
    }
    hotspots = reference.hotspots
    if hotspots is None:
        return {**entry, "note": "Stage 0 recorded no profiler findings"}
    entry.update(
        ncu_s=hotspots.ncu_s,
        note=hotspots.note,
        prompt=hotspots.prompt_text(),
        report=hotspots.report_notes(),
        kernels=_kernels(hotspots.counters),
        peaks=hotspots.counters.peaks.model_dump() if hotspots.counters else None,
        power=hotspots.power.model_dump() if hotspots.power else None,
    )
    if hotspots.raw_csv_path is not None:
        shutil.copyfile(hotspots.raw_csv_path, out / f"{app.name}.ncu-raw.csv")
    if compare:
        entry["without_kill"] = _without_kill(app_dir, device_spec, settings, out / "rebuild")
    return entry


def _table(apps: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| app | source run s | Stage 0 s | ncu s | ncu s without --kill | kernels | hottest "
        "kernel: share, roofline | idle-level share | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in apps.items():
        kernels = entry.get("kernels") or []
        hottest = kernels[0] if kernels else None
        power = entry.get("power") or {}
        without = entry.get("without_kill", {}).get("ncu_s")
        cells = [
            name,
            f"{entry['source_runtime_s']:.2f}" if "source_runtime_s" in entry else "-",
            str(entry.get("stage0_s", "-")),
            f"{entry['ncu_s']:.1f}" if entry.get("ncu_s") is not None else "-",
            f"{without:.1f}" if without is not None else "-",
            str(len(kernels)),
            f"{hottest['name'].split('(')[0]}: {hottest['duration_share']:.0%}, "
            f"{hottest['roofline']}"
            if hottest
            else "-",
            f"{power['idle_level_share']:.0%}" if power else "-",
            entry.get("note") or "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    """Profile each app's source as Stage 0 does; print and keep what it found and cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--budget-s", type=float, default=480.0)
    parser.add_argument("--compare-no-kill", action="store_true")
    options = parser.parse_args()
    out: Path = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings(cache_dir=out / "cache", runs_dir=out / "runs")
    started = time.monotonic()
    apps: dict[str, dict[str, Any]] = {}
    for app_dir in options.apps:
        if time.monotonic() - started > options.budget_s:
            apps[app_dir.name] = {"note": "skipped: budget spent"}
            continue
        try:
            entry = profile_app_source(
                app_dir, options.device, settings, out, options.compare_no_kill
            )
        except LassiError as error:
            entry = {"note": f"Stage 0 failed: {str(error).splitlines()[0]}"}
        apps[app_dir.name] = entry
        print(
            f"== {app_dir.name}: Stage 0 {entry.get('stage0_s', '-')} s, ncu {entry.get('ncu_s')}"
        )
        print(entry.get("prompt") or entry.get("note"), flush=True)
    (out / "ncu-stage0.json").write_text(json.dumps(apps, indent=1))
    print(_table(apps))
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
