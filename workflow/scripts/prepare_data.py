"""Data stage: read the configured source, split off validation, write uint8 arrays (rule prepare_data)."""

import logging

from multisheets.data.prepare import prepare
from multisheets.infra.logs import log_to_file

log_to_file(snakemake.log[0])
data = snakemake.params.data  # the settings of the data key (identity.data_settings)
if data["source"] == "cifar10":  # where to download to: another folder is the same data, so not in the key
    data = data | {"path": snakemake.config["data"]["path"]}
info = prepare(data, snakemake.params.data_dir)
logging.info("wrote %s: %s, classes %s", info["sizes"], info["image_shape"], info["classes"])
