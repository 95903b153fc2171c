"""Data stage: read the configured source, split off validation, write uint8 arrays (rule prepare_data)."""

import logging
from pathlib import Path

from multisheets.data import prepare
from multisheets.runtime import setup_logging

setup_logging(snakemake.log[0], snakemake.threads)
info = prepare(snakemake.params.data, Path(snakemake.output[0]).parent)
logging.info("wrote %s: %s, classes %s", info["sizes"], info["image_shape"], info["classes"])
