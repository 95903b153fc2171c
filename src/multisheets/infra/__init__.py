"""Shared plumbing of every stage: whole-or-nothing file writes, digests, lazy references to code, log files, and
stopping a job with its snakemake. Depends on nothing else of the package.
"""
