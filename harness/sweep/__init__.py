"""Sweeps: a cross product of ``harness run`` configurations, run once each, resumable, on local
workers or a cluster, ending with ``harness publish``. See docs/sweeps.md.

- :mod:`harness.sweep.spec`, :mod:`harness.sweep.checks` — the sweep file's schema and its checks
- :mod:`harness.sweep.plan` — expansion into cells, cell keys, publishing groups
- :mod:`harness.sweep.execute` — the scheduler (pretraining once), resume, publishing
- :mod:`harness.sweep.cell`, :mod:`harness.sweep.worker` — running one cell
- :mod:`harness.sweep.status`, :mod:`harness.sweep.live` — status file and live table
- :mod:`harness.launchers` — local processes, submitit (Slurm)
"""
