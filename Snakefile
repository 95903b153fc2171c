# Multiplicity sheets: train a population of image classifiers, evaluate every run under interventions,
# and summarise how much equally accurate runs differ. See README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


# A study is one config file: config.yaml unless --configfile names another. The other file replaces
# config.yaml instead of being merged into it, so its `dimensions` are exactly the ones it lists.
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "rules/common.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/interventions.smk"
include: "rules/evaluate.smk"
include: "rules/sheets.smk"
include: "rules/figures.smk"
