# Multiplicity sheets: train a population of image classifiers, evaluate every run under interventions,
# and summarise how much equally accurate runs differ. See README.md.
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from multisheets.infra.interrupts import forward_interrupts
from multisheets.study.config import number_as_text_hint

min_version("9.0")

# A SIGINT to this process alone stops the running jobs too, not only the scheduling (see the module).
forward_interrupts()


# A study is one config file: config.yaml unless --configfile names another. The other file replaces
# config.yaml instead of being merged into it, so its `dimensions` are exactly the ones it lists.
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")

# Every value listed under `dimensions` must be valid where `base` is: checked now, before any job starts.
for name, values in config["dimensions"].items():
    for value in values:
        try:
            validate({"base": {name: value}}, "workflow/schemas/config.schema.yaml")
        except WorkflowError as error:
            raise ValueError(
                f"dimensions.{name}: {value!r} is not a valid {name}"
                f"{number_as_text_hint(value)}: {error}"
            ) from None


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
