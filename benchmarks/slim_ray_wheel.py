"""Write a copy of a Ray wheel without the parts lassi-ee never runs, so it fits a device call.

The lent GPU machine reaches no package registry: Python packages travel there as wheels in
the repo's ignored ``.whl`` folder, and one call carries at most 64 MiB in all (the working
tree and the carried folders together). Ray's manylinux wheel is about 76 MiB, so it cannot
travel as it is. Most of that is ``ray/jars/ray_dist.jar`` (about 31 MiB compressed), which
only Ray's Java workers load: Ray starts them only where a ``java`` command and that folder
are both there (``ray._private.services``), and lassi-ee runs Python tasks alone.

``--drop-dashboard-ui`` also leaves out ``ray/dashboard/client/`` (about 2.4 MiB), the
dashboard's web pages, which the jar-less wheel needs to stay under 60 MiB with lassi-ee's
own wheels. Only the dashboard's HTTP server reads them, and Ray starts that server only
where the ``ray[default]`` packages (aiohttp_cors, opencensus, opentelemetry, ...) are
installed and ``include_dashboard`` is not False. Ray core alone, which is what
``gpu_session.sh`` carries, runs a dashboard without it, and ``benchmarks/scaleout.py``
passes ``include_dashboard=False``. Where ``ray[default]`` is installed and the dashboard is
left on, the server fails for want of the pages: Ray still starts, but about a minute
later, and with no dashboard.

The copy keeps the wheel's file name, every other member byte for byte (with its file mode,
so Ray's ``raylet`` and ``gcs_server`` stay executable), and a ``*.dist-info/RECORD`` without
the removed files, so that pip installs it as it would the original:

    python3 benchmarks/slim_ray_wheel.py ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl \
        --out .whl --drop-dashboard-ui
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import zipfile
from pathlib import Path

JAVA_JARS = "ray/jars/"
DASHBOARD_UI = "ray/dashboard/client/"


def is_record(name: str) -> bool:
    """Whether a wheel member is the dist-info's RECORD (the list of installed files)."""
    top, _, rest = name.partition("/")
    return top.endswith(".dist-info") and rest == "RECORD"


def slim_record(text: str, dropped: tuple[str, ...]) -> tuple[str, int]:
    """RECORD's text without the rows of files under ``dropped``, and how many rows went."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    removed = 0
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        if row[0].startswith(dropped):
            removed += 1
            continue
        writer.writerow(row)
    return out.getvalue(), removed


def member_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh entry for a member: its name, time, compression and file mode."""
    copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.create_system = info.create_system
    copy.external_attr = info.external_attr
    copy.file_size = info.file_size  # lets zipfile decide on ZIP64 before writing
    return copy


def slim_wheel(wheel: Path, out_dir: Path, dropped: tuple[str, ...]) -> Path:
    """Write ``wheel`` without the members under ``dropped`` into ``out_dir``; its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel.name
    if target.resolve() == wheel.resolve():
        raise SystemExit(f"{target} is the wheel itself: choose another --out")
    members = kept = records = 0
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w") as slim:
        for info in source.infolist():
            members += 1
            if info.filename.startswith(dropped):
                continue
            kept += 1
            copy_info = member_info(info)
            if is_record(info.filename):
                text, removed = slim_record(source.read(info).decode("utf-8"), dropped)
                records += removed
                slim.writestr(copy_info, text.encode("utf-8"))
                continue
            with source.open(info) as member, slim.open(copy_info, "w") as copy:
                shutil.copyfileobj(member, copy, 1 << 20)
    if records != members - kept:
        target.unlink()
        raise SystemExit(
            f"{wheel.name}: left out {members - kept} files but RECORD named {records} of them"
        )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="a ray-*.whl")
    parser.add_argument("--out", type=Path, required=True, help="folder for the slim wheel")
    parser.add_argument(
        "--drop-dashboard-ui",
        action="store_true",
        help=f"also leave out {DASHBOARD_UI} (the dashboard's web pages)",
    )
    options = parser.parse_args(argv)
    dropped = (JAVA_JARS, DASHBOARD_UI) if options.drop_dashboard_ui else (JAVA_JARS,)
    target = slim_wheel(options.wheel, options.out, dropped)
    before, after = options.wheel.stat().st_size, target.stat().st_size
    print(
        f"{target}: {after / 2**20:.1f} MiB (was {before / 2**20:.1f} MiB; "
        f"left out {', '.join(dropped)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
