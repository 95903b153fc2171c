# Multiplicity sheets: train a population of image classifiers, evaluate every run under interventions,
# and summarise how much equally accurate runs differ. See README.md.
from snakemake.utils import min_version

from multisheets.infra.interrupts import forward_interrupts
from multisheets.plan.schema import validate_study
from multisheets.sheets.findings import print_findings

min_version("9.0")

# A SIGINT to this process alone stops the running jobs too, not only the scheduling (see the module).
forward_interrupts()


# A study is one config file: config.yaml unless --configfile names another. The other file replaces
# config.yaml instead of being merged into it, so its `dimensions` are exactly the ones it lists.
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


# Checked against the schema (with the registries' names) before any job, and every key left out filled in.
validate_study(config)


# The report's landing page (snakemake --configfile <study> --report results/<study>/report.html).
report: "report/workflow.rst"


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


# The answer first: where the findings are, and their headline (the first lines of the sheet).
onsuccess:
    print_findings(
        rules.multiplicity_sheet.output.findings,
        rules.multiplicity_sheet.output.markdown,
        rules.multiplicity_sheet.output.findings_tex,
    )
