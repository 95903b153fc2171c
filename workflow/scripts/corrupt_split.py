"""One corruption type at every severity of a held-out split, official CIFAR-10-C layout (rule corrupt_split)."""

import logging
import time

import numpy as np

from multisheets.data.arrays import load_split
from multisheets.interventions.families import corrupted_split
from multisheets.models.runtime import setup_logging

setup_logging(snakemake.log[0], snakemake.threads)
started = time.perf_counter()
split = snakemake.wildcards.split
data = load_split(snakemake.params.data_dir, split)
settings = snakemake.params.settings
images = corrupted_split(
    snakemake.wildcards.corruption, data, split, settings["seed"], settings["official_dir"], settings["frost_dir"]
)
np.save(snakemake.output.images, images)
logging.info("%s %s: %s in %.1f s", split, snakemake.wildcards.corruption, images.shape, time.perf_counter() - started)
