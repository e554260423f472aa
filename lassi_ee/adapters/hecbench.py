"""Import apps from the user's own HeCBench checkout (github.com/zjin-lcf/HeCBench).

HeCBench keeps each programming model of an app in its own directory,
``src/NAME-cuda/`` and ``src/NAME-hip/``, each with a Makefile: ``make
ARCH=sm_90`` builds ``main`` from the files listed in ``source = ...``, and the
``run`` target shows the arguments. For every app (and its HIP version, where
the checkout has one) this writes ``OUT/NAME/app.yaml`` (``OUT/NAME-hip/``) in
one of two forms:

- pointing into the checkout (most apps): the manifest's ``root`` is the app's
  directory in the checkout, by absolute path, so nothing is copied; the app
  builds with its own Makefile, and the headers its sources include are
  ``dependencies``: built with it, not handed to the LLM. The paper did this
  for the apps it marks ``dependency_not_refactored``, and so do we for any app
  that is not in the paper's list.
- merged (the paper's other apps, where their headers were part of the source
  the paper handed to the LLM): the sources and their headers are merged into
  one file beside the manifest, built with the plain compiler line plus the
  defines, include directories and libraries the Makefile sets.

Arguments are the paper's for the 20 HeCBench apps it used, else the ``run``
target's.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from lassi_ee.adapters.common import (
    PaperApp,
    derived_check_args,
    makefile_variables,
    paper_apps,
    prepare_app_dir,
    run_target_args,
    write_manifest,
)
from lassi_ee.adapters.merge import local_includes, merge_sources
from lassi_ee.apps import AppManifest, BuildSpec, Language
from lassi_ee.errors import UsageError

MODELS: dict[str, Language] = {"cuda": "cuda", "hip": "hip"}
_KEPT_SWITCHES = {
    "--extended-lambda",
    "--expt-extended-lambda",
    "--expt-relaxed-constexpr",
    "-use_fast_math",
    "--use_fast_math",
}


def import_hecbench(checkout: Path, out_dir: Path, apps: list[str] | None = None) -> list[Path]:
    """Write manifests for ``apps`` (default: the paper's 20) and return their paths.

    Every name is checked before anything is written, so a typo costs nothing.
    """
    src = hecbench_src(checkout)
    paper = {row.name: row for row in paper_apps() if row.suite == "HeCBench"}
    names = apps or list(paper)
    problems = [problem for name in names if (problem := _missing_cuda_version(src, name))]
    if problems:
        raise UsageError("; ".join(problems))
    written = []
    for name in names:
        for model, language in MODELS.items():
            app_dir = src / f"{name}-{model}"
            if app_dir.is_dir():
                target = out_dir / (name if model == "cuda" else f"{name}-{model}")
                written.append(import_app_dir(app_dir, language, paper.get(name), target))
    return written


def hecbench_src(checkout: Path) -> Path:
    """The checkout's ``src`` directory (the checkout itself may be given as its src/)."""
    checkout = checkout.expanduser()
    if not checkout.is_dir():
        raise UsageError(
            f"{checkout}: no such directory; give the path of your HeCBench checkout "
            "(git clone https://github.com/zjin-lcf/HeCBench)"
        )
    for src in (checkout / "src", checkout):
        if src.is_dir() and any(path.is_dir() for path in src.glob("*-cuda")):
            return src.resolve()
    raise UsageError(
        f"{checkout} is not a HeCBench checkout: expected a src/ directory with one "
        "NAME-cuda/ directory per app (such as src/jacobi-cuda/)"
    )


def _missing_cuda_version(src: Path, name: str) -> str | None:
    if (src / f"{name}-cuda").is_dir():
        return None
    versions = sorted(
        path.name for path in src.glob(f"{name}-*") if path.name.rsplit("-", 1)[0] == name
    )
    if versions:
        found = ", ".join(f"src/{version}/" for version in versions)
        return f"'{name}' has no CUDA version: expected src/{name}-cuda/ and found only {found}"
    known = sorted({path.name.removesuffix("-cuda") for path in src.glob("*-cuda")})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"no app '{name}' in {src.parent}: expected src/{name}-cuda/{hint}"


def import_app_dir(app_dir: Path, language: Language, paper: PaperApp | None, target: Path) -> Path:
    """Write the manifest for one ``src/NAME-MODEL/`` directory into ``target``."""
    makefile = app_dir / "Makefile"
    if not makefile.is_file():
        raise UsageError(
            f"{app_dir}: no Makefile; lassi-ee builds HeCBench apps with their own Makefile"
        )
    text = makefile.read_text(errors="replace")
    variables = makefile_variables(text)
    program = (variables.get("program") or ["main"])[0]
    units = variables.get("source", [])
    missing = [unit for unit in units if not (app_dir / unit).is_file()]
    if not units or missing:
        what = f"lists {', '.join(missing)}, which is missing" if missing else "has no source ="
        raise UsageError(f"{makefile} {what}: expected HeCBench's Makefile layout")
    name = app_dir.name.removesuffix("-cuda")
    checkout = app_dir.parent.parent
    headers = local_includes([app_dir / unit for unit in units], checkout)
    texts = [(app_dir / unit).read_text(errors="replace") for unit in units]
    texts += [header.read_text(errors="replace") for header in headers]
    run_args = run_target_args(text, program)
    args = paper.args if paper else (run_args or [])
    check_args, check_note = derived_check_args(args, run_args)
    common = {
        "name": name,
        "category": paper.category if paper else "",
        "suite": "HeCBench",
        "language": language,
        "args": args,
        "check_args": check_args,
        "pass_regex": "PASS" if any("PASS" in part for part in texts) else None,
    }
    notes = [_paper_note(paper), check_note]
    prepare_app_dir(target)
    merge = paper is not None and not paper.dependency_not_refactored
    if merge and (headers or len(units) > 1):
        relative_dir = app_dir.relative_to(checkout)
        merged = merge_sources(checkout, [str(relative_dir / unit) for unit in units])
        refactor = Path(units[0]).name
        (target / refactor).write_text(merged.text)
        notes.append(
            f"Merged from {', '.join(merged.files)} of {checkout} into one source, as the "
            "paper did; built with the compiler line and the Makefile's flags."
        )
        flags = [*_makefile_flags(variables, app_dir), f"-I{app_dir}"]  # for includes left as is
        build = BuildSpec(binary=program, extra_flags=flags)
        manifest = AppManifest(
            **common, refactor=refactor, sources=[refactor], build=build, note=" ".join(notes)
        )
    else:
        dependencies = [os.path.relpath(header, app_dir) for header in headers]
        outside = [path for path in dependencies if path.startswith("..")]
        if outside:
            notes.append(
                f"Includes {', '.join(outside)} from outside its directory; lassi-ee builds "
                "a copy of the directory, so the build may not find them."
            )
        manifest = AppManifest(
            **common,
            root=str(app_dir),
            refactor=units[0],
            sources=units,
            dependencies=dependencies,
            build=BuildSpec(system="make", binary=program),
            note=" ".join(note for note in notes if note),
        )
    return write_manifest(manifest, target, f"HeCBench {app_dir}")


def _paper_note(paper: PaperApp | None) -> str:
    if paper is None:
        return "Not one of the paper's apps: arguments from the Makefile's run target."
    parts = [f"The paper's app ({paper.loc} lines as it handed them to the LLM)."]
    if paper.dependency_not_refactored:
        parts.append("As in the paper, its headers are dependencies not given to the LLM.")
    if paper.source_modified:
        parts.append(
            f"The paper modified its source ({paper.source_modified}); this manifest uses "
            "the checkout's source as it is."
        )
    return " ".join(parts)


def _makefile_flags(variables: dict[str, list[str]], app_dir: Path) -> list[str]:
    """Defines, include and library paths, libraries and nvcc language switches."""
    kept = []
    for word in variables.get("CFLAGS", []) + variables.get("LDFLAGS", []):
        if "$(" in word:
            continue
        if word[:2] in ("-I", "-L") and not os.path.isabs(word[2:]):
            kept.append(word[:2] + str((app_dir / word[2:]).resolve()))
        elif word[:2] in ("-I", "-L", "-D", "-l") or word in _KEPT_SWITCHES:
            kept.append(word)
    return kept
