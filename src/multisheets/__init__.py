"""Multiplicity sheets: train populations of classifiers, evaluate them under interventions, and measure
how much they disagree."""

__version__ = "0.1.0"
