"""How the workflow plans a study, before any job runs: the study checked against the schema (`schema`), the keys
every file is named after (`identity`), where files go (`paths`), which runs share a job (`jobs`) and the checks
the schema cannot make (`preflight`). Torch-free: the Snakefile imports it while it builds the DAG.
"""
