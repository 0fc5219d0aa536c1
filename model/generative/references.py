"""Reference crystals for evaluation, reading only the rows asked for.

read_dataset parses a whole CDVAE CSV before `limit` applies (≈ 30 s for
perov_5's validation split); evaluating a generator on its first N crystals
should not pay for the rest, so a CDVAE CSV with a limit is streamed here.
"""

from __future__ import annotations

import csv
import sys
import warnings
from itertools import islice
from pathlib import Path

from model.datasets import read_dataset
from model.datasets.cdvae_csv import NOT_TARGETS, looks_like_cdvae_csv
from model.datasets.records import (KNOWN_UNITS, Dataset, DatasetError, Sample,
                                    from_pymatgen, parse_number)


def read_references(path: str | Path, limit: int | None = None) -> Dataset:
    path = Path(path)
    if limit is None or not path.is_file() or not looks_like_cdvae_csv(path):
        return read_dataset(path, limit=limit)
    from pymatgen.core import Structure as PymatgenStructure

    csv.field_size_limit(sys.maxsize)
    with path.open(newline="") as handle:
        rows = list(islice(csv.DictReader(handle), limit))
    if not rows:
        raise DatasetError(f"{path}: no rows")
    targets = [c for c in rows[0] if c not in NOT_TARGETS
               and all(parse_number(row[c]) is not None for row in rows)]
    samples = []
    for number, row in enumerate(rows, start=1):
        sample_id = row.get("material_id") or row.get("") or str(number)
        where = f"{path}: row {number} ({sample_id})"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = PymatgenStructure.from_str(row["cif"], fmt="cif")
        except Exception as error:  # pymatgen raises many kinds for a bad CIF
            raise DatasetError(f"{where}: the CIF does not parse ({error})") from None
        samples.append(Sample(id=str(sample_id), structure=from_pymatgen(structure, where),
                              targets={t: parse_number(row[t]) for t in targets}))
    return Dataset(name=path.parent.name or path.stem, samples=samples,
                   units={t: KNOWN_UNITS.get(t, "") for t in targets},
                   fingerprint=f"first-{limit}-rows-of-{path.name}", source=str(path),
                   target_names=targets)
