"""A study checked against its schema before anything runs, with every key it leaves out filled in.

The schema (`study/config.schema.yaml`) lists every key with its type, range and default. The names a registry holds
(architectures, data sources, intervention families) are added to it here, so that a new registry entry is a valid
value with no edit to the schema: allowed values have one source, as defaults do (`study.config` reads them from the
schema). Each error is one line naming the key, and an unknown key gets the nearest known one.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterator
from typing import Any

from jsonschema import Draft202012Validator, validators

from multisheets.data.sources import SOURCES
from multisheets.interventions.registry import FAMILIES
from multisheets.models.architectures import ARCHITECTURES
from multisheets.plan import paths
from multisheets.study.config import SCHEMA, number_as_text_hint

# Where in the schema each registry's names are the allowed values.
REGISTERED: dict[tuple[str, ...], Callable[[], list[str]]] = {
    ("$defs", "hyperparameters", "properties", "model"): lambda: list(ARCHITECTURES),
    ("properties", "data", "properties", "source"): lambda: list(SOURCES),
    ("properties", "interventions", "properties", "families", "items"): lambda: list(FAMILIES),
    # every hyperparameter can be a dimension
    ("properties", "dimensions", "propertyNames"): lambda: list(SCHEMA["$defs"]["hyperparameters"]["properties"]),
}


def study_schema() -> dict[str, Any]:
    """The schema with the registries' names as the allowed values of their keys."""
    schema = copy.deepcopy(SCHEMA)
    for location, names in REGISTERED.items():
        node = schema
        for part in location:
            node = node[part]
        node["enum"] = names()
    return schema


def _with_defaults(properties_validator: Callable) -> Callable:
    """Fill a key's default into the study before validating it, as Snakemake's own `validate` does."""

    def fill(validator, properties, instance, schema) -> Iterator:
        if isinstance(instance, dict):
            for name, spec in properties.items():
                if "default" in spec:
                    instance.setdefault(name, copy.deepcopy(spec["default"]))
        yield from properties_validator(validator, properties, instance, schema)

    return fill


Validator = validators.extend(
    Draft202012Validator, {"properties": _with_defaults(Draft202012Validator.VALIDATORS["properties"])}
)


def problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """One line per error, `key.path: what is wrong` (filling in defaults as it goes)."""
    lines = []
    for error in sorted(Validator(schema).iter_errors(config), key=lambda error: list(map(str, error.path))):
        where = ".".join(map(str, error.absolute_path)) or "the study"
        line = f"{where}: {error.message}"
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for unknown in set(error.instance) - set(known):
                nearest = difflib.get_close_matches(unknown, known, n=1)
                line += f"; did you mean {nearest[0]!r} for {unknown!r}?" if nearest else ""
        lines.append(line)
    return lines


def validate_study(config: dict[str, Any]) -> None:
    """Check a study (a config dict) and fill in its defaults; refuse it with every problem found, one a line.

    Every value listed under `dimensions` must be valid where `base` is, so each is checked as a base value too.
    """
    schema = study_schema()
    lines = problems(config, schema)
    for name, values in config.get("dimensions", {}).items() if not lines else ():
        for value in values:
            found = problems({"base": {name: value}}, schema)
            if found:
                hint, reason = number_as_text_hint(value), found[0].split(": ", 1)[1]
                lines.append(f"dimensions.{name}: {value!r} is not a valid {name}{hint}: {reason}")
    if config.get("study") in paths.SHARED:  # results/<study>/ must not be a folder every study shares
        lines.append(
            f"study: {config['study']!r} is reserved (results/ holds {', '.join(paths.SHARED)} for all studies)"
        )
    if lines:
        raise ValueError("the study is not valid:\n  " + "\n  ".join(lines))
