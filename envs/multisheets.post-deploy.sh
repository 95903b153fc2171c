#!/usr/bin/env bash
# Snakemake runs this inside the freshly created environment (--sdm conda), from the directory it was
# started in (the repository root): install the workflow's own library so the scripts can import it.
set -euo pipefail
pip install --no-deps -e .
