"""Rendering a run's record: report.md and the terminal tables (:mod:`.run_report`), the threshold-policy sections
(:mod:`.policy_section`) and how values are written (:mod:`.format`)."""
