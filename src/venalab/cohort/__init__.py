"""Cohort analytics: synthetic cohorts, flat exam tables, the vectorized engine, runs, reports.

- `table`: exam documents <-> three flat Polars tables (exams, legs, segments); per-exam
  results -> the flat result tables the vectorized engine also writes.
- `synth`: the documented generative model behind `venalab synth`.
- `vectorized`: validation and assessment of whole tables at once (the one allowed second
  implementation of the rules, held equal to `venalab.engine.assess` by a differential test).
- `runner` / `distributed`: partitioned, resumable runs in one process or on Dask.
- `report`: the cohort report (prevalence tables and plots, HTML).

docs/cohorts.md describes the formats, the column sets and how to run on a cluster.
"""

DEFAULT_PARTITION = 50_000
"""Exams per partition of `venalab cohort assess` (kept here so the CLI imports nothing heavy)."""
