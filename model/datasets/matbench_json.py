"""Matbench-style data: a pandas DataFrame written by `to_json()`, often gzipped.

The "columns" orient, `{column: {row: value}}`, with pymatgen structure
dictionaries in a `structure` column; every all-numeric column is a target.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from model.datasets.progress import progress
from model.datasets.records import (KNOWN_UNITS, Dataset, DatasetError, Sample,
                                    fingerprint_files, from_pymatgen, parse_number)

NOT_TARGETS = {"structure", "spg_num", "volume"}  # descriptors, not properties


def looks_like_matbench_json(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and (name.endswith(".json.gz") or name.endswith(".json"))


def read_matbench_json(path: Path) -> Dataset:
    from pymatgen.core import Structure as PymatgenStructure

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            table = json.load(handle)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a (gzipped) JSON table ({error})") from None
    if not isinstance(table, dict) or not isinstance(table.get("structure"), dict):
        raise DatasetError(f"{path}: expected a DataFrame.to_json() object with a "
                           f"'structure' column; got keys {list(table)[:5] if isinstance(table, dict) else type(table).__name__}")
    rows = list(table["structure"].keys())
    targets = [c for c, values in table.items() if c not in NOT_TARGETS
               and isinstance(values, dict)
               and all(parse_number(values.get(r)) is not None for r in rows)]
    samples = []
    for row in progress(rows, f"reading {path.name}"):
        where = f"{path}: row {row}"
        try:
            structure = PymatgenStructure.from_dict(table["structure"][row])
        except Exception as error:  # malformed structure dictionaries raise many kinds
            raise DatasetError(f"{where}: not a pymatgen structure ({error})") from None
        samples.append(Sample(id=str(row), structure=from_pymatgen(structure, where),
                              targets={t: parse_number(table[t][row]) for t in targets}))
    name = path.name.split(".")[0]
    return Dataset(name=name, samples=samples, units={t: KNOWN_UNITS.get(t, "") for t in targets},
                   fingerprint=fingerprint_files([path]), source=str(path), target_names=targets)
