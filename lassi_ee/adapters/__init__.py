"""Adapters: manifests for benchmark suites the user has checked out (nothing is copied).

The CLI commands to wire (each prints the manifests it wrote; UsageError -> exit 2):

    lassi-ee apps import-hecbench PATH [--apps NAME,NAME...] [--out DIR]
        -> hecbench.import_hecbench(Path(PATH), Path(DIR or "apps/hecbench"), names or None)
    lassi-ee apps import-xsbench PATH [--out DIR]
        -> miniapps.import_xsbench(Path(PATH), Path(DIR or "apps/miniapps"))
    lassi-ee apps import-minimdock PATH [--out DIR]
        -> miniapps.import_minimdock(Path(PATH), Path(DIR or "apps/miniapps"))

Each writes OUT/NAME/app.yaml, which ``lassi-ee profile OUT/NAME`` and
campaigns load like any example. Without --apps, import-hecbench imports the 20
HeCBench apps the paper used, with its arguments (lassi_ee/data/paper-apps.yaml).
"""

from lassi_ee.adapters.common import PaperApp, paper_apps
from lassi_ee.adapters.hecbench import import_hecbench
from lassi_ee.adapters.merge import MergedSource, merge_sources
from lassi_ee.adapters.miniapps import import_minimdock, import_xsbench

__all__ = [
    "MergedSource",
    "PaperApp",
    "import_hecbench",
    "import_minimdock",
    "import_xsbench",
    "merge_sources",
    "paper_apps",
]
