"""Labelled structure data sets, read into one shape whatever their layout.

Layouts: the CDVAE CSV (one P1 CIF per row plus property columns), a CGCNN
folder (structure files plus `id_prop.csv`) and Matbench-style `.json.gz`.
`read_dataset` picks the reader from the path.
"""

from model.datasets.layouts import read_dataset
from model.datasets.records import Dataset, DatasetError, Sample

__all__ = ["Dataset", "DatasetError", "Sample", "read_dataset"]
