"""Multiplicity and trustworthiness measures, numpy and scipy only: per model (`per_model`), per set of runs
(`population`, with its uncertainty in `uncertainty`), per example (`per_example`) and the remedies
(`ensembles`, `abstention`).
"""
