"""The CGCNN layout: a folder of structure files plus `id_prop.csv` (no header).

Each row of `id_prop.csv` is an id (a file name, or a name whose `.cif` sits
in the folder) followed by one or more values. One value is named after the
folder (`bandgap_optb88vdw`); several become `<folder>_0`, `<folder>_1`, ...
"""

from __future__ import annotations

import csv
from pathlib import Path

from model.datasets.progress import progress
from model.datasets.records import (KNOWN_UNITS, Dataset, DatasetError, Sample,
                                    fingerprint_files, parse_number)
from model.structure_files import StructureFileError, read_structure

INDEX_FILE = "id_prop.csv"


def looks_like_cgcnn_folder(path: Path) -> bool:
    return path.is_dir() and (path / INDEX_FILE).is_file()


def _structure_file(folder: Path, sample_id: str) -> Path:
    for candidate in (folder / sample_id, folder / f"{sample_id}.cif"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{folder / INDEX_FILE}: no structure file for id {sample_id!r} "
                       f"(looked for {sample_id} and {sample_id}.cif)")


def read_cgcnn_folder(folder: Path) -> Dataset:
    with (folder / INDEX_FILE).open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows:
        raise DatasetError(f"{folder / INDEX_FILE}: no rows")
    n_values = len(rows[0]) - 1
    if n_values < 1:
        raise DatasetError(f"{folder / INDEX_FILE}: rows need an id and at least one value")
    names = [folder.name] if n_values == 1 else [f"{folder.name}_{k}" for k in range(n_values)]
    samples, files = [], [folder / INDEX_FILE]
    for number, row in enumerate(progress(rows, f"reading {folder.name}"), start=1):
        values = [parse_number(v) for v in row[1:]]
        if len(values) != n_values or any(v is None for v in values):
            raise DatasetError(f"{folder / INDEX_FILE}: row {number} needs {n_values} numbers "
                               f"after the id; got {row[1:6]}{'...' if len(row) > 6 else ''}")
        path = _structure_file(folder, row[0].strip())
        try:
            structure = read_structure(path)
        except StructureFileError as error:
            raise DatasetError(str(error)) from None
        files.append(path)
        samples.append(Sample(id=row[0].strip(), structure=structure,
                              targets=dict(zip(names, values, strict=True))))
    return Dataset(name=folder.name, samples=samples,
                   units={n: KNOWN_UNITS.get(folder.name, "") for n in names},
                   fingerprint=fingerprint_files(files), source=str(folder), target_names=names)
