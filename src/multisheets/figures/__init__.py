"""Figures, each drawn from a table in results/ (matplotlib and seaborn; no torch)."""
