"""Data stage: read the configured source, split off validation, write uint8 arrays (rule prepare_data)."""

import logging

from multisheets.data import prepare
from multisheets.runtime import setup_logging

setup_logging(snakemake.log[0], snakemake.threads)
info = prepare(snakemake.params.data, snakemake.params.data_dir)
logging.info("wrote %s: %s, classes %s", info["sizes"], info["image_shape"], info["classes"])
