"""`raytl report RUN_DIR`: turn a run directory (finished or live) into the answer to the research question.

Entry point: `raytl.report.render.build_report`. Data flow: results (load the trial summaries) ->
selection (which trials count) -> transfer / scaling / languages / xtreme_tables (the analyses) -> render
(report.md and report.html).
"""
