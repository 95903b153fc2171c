"""The summary stage, pandas only: the metrics table, stored predictions, model selection, the multiplicity sheet
and its measures by name (`sheet_measures`), the findings with their verdicts (`findings`), the sheet's Markdown and
LaTeX views (`views`, `latex`), the per-example tables and their measures by name (`example_measures`).
"""
