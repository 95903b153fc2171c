"""An extra labelled test set with this study's classes, for the shift family (rule prepare_shift)."""

import logging

import numpy as np

from multisheets.data.arrays import load_info
from multisheets.data.shift import read_shift_set
from multisheets.infra.logs import log_to_file

log_to_file(snakemake.log[0])
info = load_info(snakemake.params.data_dir)
shift = read_shift_set(snakemake.wildcards.name, snakemake.input.source, info, snakemake.params.download_dir)
np.savez(snakemake.output.shift_set, images=shift.images, labels=shift.labels)
logging.info("%s: %d images of shape %s", snakemake.wildcards.name, len(shift.labels), shift.images.shape[1:])
