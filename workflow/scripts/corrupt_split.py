"""One corruption type at every severity of the test split, official CIFAR-10-C layout (rule corrupt_test_set)."""

import logging
import time
from pathlib import Path

import numpy as np

from multisheets.data import load_split
from multisheets.interventions import corrupted_test_set
from multisheets.runtime import setup_logging

setup_logging(snakemake.log[0], snakemake.threads)
started = time.perf_counter()
test = load_split(Path(snakemake.input[0]).parent, "test")
settings = snakemake.params.settings
images = corrupted_test_set(
    snakemake.wildcards.corruption, test, settings["seed"], settings["official_dir"], settings["frost_dir"]
)
np.save(snakemake.output[0], images)
logging.info("%s: %s in %.1f s", snakemake.wildcards.corruption, images.shape, time.perf_counter() - started)
