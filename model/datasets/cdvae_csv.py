"""The CDVAE CSV layout: one P1 CIF per row in a `cif` column, properties beside it.

perov_5, carbon_24 (CDVAE's splits) and perov_5_extra use it. Every column
whose values are all numbers is a target; `material_id` names the sample.
"""

from __future__ import annotations

import csv
import sys
from itertools import islice
import warnings
from pathlib import Path

from model.datasets.progress import progress
from model.datasets.records import (KNOWN_UNITS, Dataset, DatasetError, Sample,
                                    fingerprint_files, from_pymatgen, parse_number)

NOT_TARGETS = {"", "material_id", "cif", "formula", "id"}


def looks_like_cdvae_csv(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), [])
    return "cif" in header


def read_cdvae_csv(path: Path, limit: int | None = None) -> Dataset:
    """All rows, or only the first `limit` (parsing CIFs is the cost: ~30 s for perov_5 val)."""
    from pymatgen.core import Structure as PymatgenStructure

    csv.field_size_limit(sys.maxsize)  # a CIF per cell exceeds the default limit
    with path.open(newline="") as handle:
        rows = list(islice(csv.DictReader(handle), limit))
    if not rows:
        raise DatasetError(f"{path}: no rows")
    columns = list(rows[0].keys())
    targets = [c for c in columns if c not in NOT_TARGETS
               and all(parse_number(row[c]) is not None for row in rows)]
    samples = []
    for number, row in enumerate(progress(rows, f"reading {path.name}"), start=1):
        sample_id = row.get("material_id") or row.get("") or str(number)
        where = f"{path}: row {number} ({sample_id})"
        try:
            with warnings.catch_warnings():  # pymatgen reports coordinates it rounds to x=0.5 etc.
                warnings.simplefilter("ignore", UserWarning)
                structure = PymatgenStructure.from_str(row["cif"], fmt="cif")
        except Exception as error:  # pymatgen raises many kinds for a bad CIF
            raise DatasetError(f"{where}: the CIF does not parse ({error})") from None
        samples.append(Sample(id=str(sample_id), structure=from_pymatgen(structure, where),
                              targets={t: parse_number(row[t]) for t in targets}))
    return Dataset(name=path.parent.name or path.stem, samples=samples,
                   units={t: KNOWN_UNITS.get(t, "") for t in targets},
                   fingerprint=fingerprint_files([path]) + (f":first-{limit}" if limit else ""),
                   source=str(path),
                   target_names=targets)
