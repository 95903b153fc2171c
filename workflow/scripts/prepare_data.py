"""Data stage: read the configured source, split off validation, write uint8 arrays (rule prepare_data)."""

import logging

from multisheets.data.prepare import prepare
from multisheets.data.sources import source_of
from multisheets.infra.logs import log_to_file

log_to_file(snakemake.log[0])
# The settings of the data key (plan.identity.data_settings), and from the config where a source downloads to: another
# folder is the same data, so it is not in the key.
data = snakemake.params.data
data |= {key: snakemake.config["data"][key] for key in source_of(data).locations}
info = prepare(data, snakemake.params.data_dir)
logging.info("wrote %s: %s, classes %s", info["sizes"], info["image_shape"], info["classes"])
