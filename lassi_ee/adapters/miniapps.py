"""Import XSBench and miniMDock from the user's own checkouts, merged as the paper did.

Both are multi-file CUDA apps built by Makefiles, and the paper handed each to
the LLM as one merged source. Here the merged source (see merge.py) is written
beside the manifest and builds with the plain compiler line on that one file,
plus the flags the app's Makefile would add. The merged file is
self-contained, so the profiled source and every refactored candidate build
the same way, and the checkout's Makefile is not needed (miniMDock's wants
environment variables and generates files before it builds). Data files stay
in the checkout, named by absolute path.

Neither has been imported from a real checkout where this was written (the
tests use small fake trees shaped like them), so the manifests say
``unverified: true`` until someone has built and run them.
"""

from __future__ import annotations

from pathlib import Path

from lassi_ee.adapters.common import (
    PaperApp,
    derived_check_args,
    makefile_variables,
    paper_apps,
    prepare_app_dir,
    write_manifest,
)
from lassi_ee.adapters.merge import merge_sources
from lassi_ee.apps import AppManifest, BuildSpec
from lassi_ee.errors import UsageError

# The paper passed 1700000000 lookups; the CUDA XSBench runs only the event-based method.
XSBENCH_ARGS = ["-m", "event", "-l", "1700000000"]
# XSBench prints throughput and device facts that differ from run to run.
XSBENCH_IGNORE = r"Lookups/s|Runtime|CUDA Device|Version|Memory"

MINIMDOCK_INCLUDE_DIRS = ["common", "host/inc", "device/cuda"]  # Makefile.Cuda's IFLAGS
# What `make API=CUDA` sets: GPU device, 64 work-items, fast math, cuRAND, a version string.
MINIMDOCK_FLAGS = ["-DGPU_DEVICE", "-DN64WI", "-use_fast_math", '-DVERSION="lassi-ee"', "-lcurand"]
MINIMDOCK_LIGAND = "input/7cpa/7cpa_ligand.pdbqt"  # the paper's test case
MINIMDOCK_ARGS = ["-lfile", f"./{MINIMDOCK_LIGAND}", "-nrun", "500"]


def import_xsbench(checkout: Path, out_dir: Path) -> Path:
    """Merge XSBench's CUDA sources (cuda/) into OUT/XSBench/ and return its manifest path."""
    cuda_dir = _app_dir(
        checkout, "cuda", "XSbench_header.cuh", "XSBench", "github.com/ANL-CESAR/XSBench"
    )
    makefile = cuda_dir / "Makefile"
    if not makefile.is_file():
        raise UsageError(f"{cuda_dir}: no Makefile; expected XSBench's cuda/Makefile")
    variables = makefile_variables(makefile.read_text(errors="replace"))
    units = variables.get("source", [])
    if not units:
        raise UsageError(f"{makefile} has no 'source =' list: expected XSBench's Makefile layout")
    program = (variables.get("program") or ["XSBench"])[0]
    merged = merge_sources(cuda_dir, units)
    target = out_dir / "XSBench"
    prepare_app_dir(target)
    refactor = f"{program}.cu"
    (target / refactor).write_text(merged.text)
    paper = _paper_app("XSBench")
    libraries = [word for word in variables.get("LDFLAGS", []) if word.startswith("-l")]
    check_args, check_note = derived_check_args(XSBENCH_ARGS)
    note = (
        f"{_merge_note(merged.files, cuda_dir, paper)} The paper passed {paper.args[0]} "
        "lookups. XSBench exits with status 1 when its checksum is not one it knows (it "
        "knows only the default sizes), as here: compare runs by the checksum it prints. "
        f"{check_note}"
    )
    manifest = AppManifest(
        name="XSBench",
        category=paper.category,
        suite=paper.suite,
        language="cuda",
        refactor=refactor,
        sources=[refactor],
        args=XSBENCH_ARGS,
        check_args=check_args,
        build=BuildSpec(binary=program, extra_flags=libraries),
        pass_regex="Verification checksum",
        fail_regex=None,
        ignore_regex=XSBENCH_IGNORE,
        unverified=True,
        note=note,
    )
    return write_manifest(manifest, target, f"XSBench {cuda_dir}")


def import_minimdock(checkout: Path, out_dir: Path) -> Path:
    """Merge miniMDock's CUDA kernels and host code into OUT/miniMDock/; return the manifest."""
    root = _app_dir(
        checkout, ".", "device/cuda/kernels.cu", "miniMDock", "github.com/ORNL-PE/miniMDock"
    )
    host_src = root / "host" / "src"
    if not host_src.is_dir():
        raise UsageError(f"{root}: no host/src/ directory; expected miniMDock's layout")
    ligand = root / MINIMDOCK_LIGAND
    if not ligand.is_file():
        raise UsageError(f"{root}: expected the paper's test case {MINIMDOCK_LIGAND}, missing")
    # link_cuda.sh links x.cpp.Cuda to x.cpp before a CUDA build; merge_sources does the same.
    hosts = {path.name.removesuffix(".Cuda") for path in host_src.glob("*.cpp*")}
    units = ["device/cuda/kernels.cu", *(f"host/src/{name}" for name in sorted(hosts))]
    merged = merge_sources(root, units, MINIMDOCK_INCLUDE_DIRS, variant_suffix=".Cuda")
    target = out_dir / "miniMDock"
    prepare_app_dir(target)
    (target / "miniMDock.cu").write_text(merged.text)
    paper = _paper_app("miniMDock")
    includes = [f"-I{root / name}" for name in MINIMDOCK_INCLUDE_DIRS]
    check_args, check_note = derived_check_args(MINIMDOCK_ARGS)
    note = (
        f"{_merge_note(merged.files, root, paper)} The paper also removed the serial "
        f"(CPU) part; this import keeps the code as it is. {check_note}"
    )
    manifest = AppManifest(
        name="miniMDock",
        category=paper.category,
        suite=paper.suite,
        language="cuda",
        refactor="miniMDock.cu",
        sources=["miniMDock.cu"],
        data_files=[str(root / "input")],
        args=MINIMDOCK_ARGS,
        check_args=check_args,
        build=BuildSpec(binary="autodock_gpu_64wi", extra_flags=[*MINIMDOCK_FLAGS, *includes]),
        pass_regex=None,
        fail_regex=None,
        unverified=True,
        note=note,
    )
    return write_manifest(manifest, target, f"miniMDock {root}")


def _app_dir(checkout: Path, subdir: str, marker: str, name: str, url: str) -> Path:
    """The directory holding ``marker``: ``checkout/subdir``, or the checkout itself."""
    checkout = checkout.expanduser()
    if not checkout.is_dir():
        raise UsageError(f"{checkout}: no such directory; give the path of your {name} checkout")
    for candidate in (checkout / subdir, checkout):
        if (candidate / marker).is_file():
            return candidate.resolve()
    raise UsageError(
        f"{checkout} is not a {name} checkout ({url}): expected {subdir}/{marker}".replace("./", "")
    )


def _paper_app(name: str) -> PaperApp:
    return next(app for app in paper_apps() if app.name == name)


def _merge_note(files: list[str], root: Path, paper: PaperApp) -> str:
    return (
        f"Merged from {len(files)} files of {root} ({', '.join(files)}) into one source, as "
        f"the paper did (its merged source had {paper.loc} lines); built with the compiler "
        "line and the Makefile's flags. Not yet built from a real checkout here."
    )
