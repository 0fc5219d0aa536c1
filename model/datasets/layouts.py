"""Pick the reader for a path: CDVAE CSV, CGCNN folder or Matbench JSON."""

from __future__ import annotations

from pathlib import Path

from model.datasets.cdvae_csv import looks_like_cdvae_csv, read_cdvae_csv
from model.datasets.combine import combine_datasets
from model.datasets.cgcnn_folder import looks_like_cgcnn_folder, read_cgcnn_folder
from model.datasets.qm9 import read_qm9
from model.datasets.matbench_json import looks_like_matbench_json, read_matbench_json
from model.datasets.records import Dataset, DatasetError

LAYOUTS = (
    ("CGCNN folder (structure files + id_prop.csv)", looks_like_cgcnn_folder, read_cgcnn_folder),
    ("CDVAE CSV (a 'cif' column + property columns)", looks_like_cdvae_csv, read_cdvae_csv),
    ("Matbench JSON (DataFrame.to_json, .json or .json.gz)", looks_like_matbench_json,
     read_matbench_json),
)


def read_dataset(path: str | Path | list, *, limit: int | None = None) -> Dataset:
    """Read a labelled data set in any known layout, chosen from the path.

    The name `qm9` (not a path) reads QM9 from the qm9pack package. A list of
    paths reads each and combines them (see `combine`). `limit` keeps only the
    first structures (in file order), for quick runs.
    """
    if isinstance(path, list):
        if not path:
            raise DatasetError("no data set given")
        return _first(combine_datasets([read_dataset(p) for p in path]), limit)
    if str(path).lower() == "qm9":
        return read_qm9(limit)
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    for _description, matches, read in LAYOUTS:
        if matches(path):
            if read is read_cdvae_csv:  # reads only the rows asked for
                return read_cdvae_csv(path, limit)
            return _first(read(path), limit)
    known = "; ".join(description for description, _m, _r in LAYOUTS) + "; or the name qm9"
    raise DatasetError(f"{path}: not a data set layout kozo knows. Known layouts: {known}")


def _first(dataset: Dataset, limit: int | None) -> Dataset:
    """The first `limit` samples, with a fingerprint that says so."""
    if limit is None or limit >= len(dataset.samples):
        return dataset
    dataset.samples = dataset.samples[:limit]
    dataset.fingerprint = f"{dataset.fingerprint}:first-{limit}"
    return dataset
