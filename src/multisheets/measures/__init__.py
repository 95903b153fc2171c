"""Multiplicity and trustworthiness measures, numpy and scipy only: per model (`per_model`), per set of runs
(`population`, with its uncertainty in `uncertainty`), per example (`per_example`), the remedies (`ensembles`,
`abstention`), and the probabilities and votes they all count with (`probabilities`).
"""
