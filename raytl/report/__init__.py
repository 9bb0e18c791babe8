"""`raytl report RUN_DIR`: turn a run directory (finished or live) into the answer to the research question.

Entry point: `raytl.report.render.build_report`. Data flow: results (load the trial summaries) -> selection
(which trials count; every choice on dev) -> headline (none vs the dev-selected task per target, beside the
published rows) / transfer / scaling / languages / priors (prior.json against the dev gains) / xtreme_tables
(the analyses) -> render (report.md and report.html).
"""
