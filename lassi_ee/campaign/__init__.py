"""Campaigns: apps x devices x n trials, their results store, and the paper's tables.

- spec.py: the campaign file (YAML or TOML) -> ``Campaign`` (``load_campaign``)
- locations.py: the line of every key in the file, so that each problem names its line
- store.py: ``TrialRecord`` per finished trial in SQLite (``ResultsStore``), CSV/Parquet export
- runner.py: ``run_campaign_trial`` (engine-neutral), the local engine ``run_local``, status
- ray_engine.py: ``run_ray``, one Ray task per trial on a cluster (docs/SCALEOUT.md)
- tables.py: Tables 2, 3 and 4 as Markdown and CSV (the plots: lassi_ee/report/campaign.py)

The commands (``lassi-ee campaign run|status|report|export``) are lassi_ee/cli_campaign.py,
above the reports they write. Nothing is imported here, so that the CLI can wire in the
commands without loading the graph stack.
"""
