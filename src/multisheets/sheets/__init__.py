"""The summary stage, pandas only: the metrics table, stored predictions, model selection, the multiplicity sheet
and the per-example tables.
"""
