# Multiplicity sheets: train a population of image classifiers, evaluate every run under interventions,
# and summarise how much equally accurate runs differ. See README.md.
from snakemake.utils import min_version

from multisheets.infra.interrupts import forward_interrupts
from multisheets.plan.schema import validate_study

min_version("9.0")

# A SIGINT to this process alone stops the running jobs too, not only the scheduling (see the module).
forward_interrupts()


# A study is one config file: config.yaml unless --configfile names another. The other file replaces
# config.yaml instead of being merged into it, so its `dimensions` are exactly the ones it lists.
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


# Checked against the schema (with the registries' names) before any job, and every key left out filled in.
validate_study(config)


include: "rules/common.smk"
# Each file's rules read earlier files' outputs as rules.<rule>.output.<key>, so the order matters.
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/interventions.smk"
include: "rules/evaluate.smk"
include: "rules/sheets.smk"
include: "rules/per_example.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
