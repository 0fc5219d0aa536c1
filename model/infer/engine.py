"""Predict properties of structures with an exported artifact, in one batched call.

Neighbour lists come from `kernels` with the artifact's cutoff, edge vectors
feed the ONNX graph, and the answer carries the target names and units from
model.json. Structures the model cannot judge are refused with a reason:
elements it never saw, no atoms, atoms on top of each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from kernels import batched_neighbor_list
from kozo.errors import KozoError
from model.artifact import MODEL_FILE, ArtifactMetadata
from model.structure_files import Structure

OVERLAP_DISTANCE = 0.5  # Å: closer atoms make no physical structure


class PredictionError(KozoError):
    """A structure the model cannot give a prediction for."""


class Predictor:
    def __init__(self, artifact: str | Path, *, threads: int = 1) -> None:
        import onnxruntime

        self.directory = Path(artifact)
        self.metadata = ArtifactMetadata.read(self.directory)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(self.directory / MODEL_FILE), options,
                                                    providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.known_elements = set(self.metadata.elements)

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.metadata.targets]

    def check(self, structure: Structure) -> None:
        """Raise PredictionError when the model cannot judge this structure."""
        if len(structure.numbers) == 0:
            raise PredictionError(f"{structure.source}: the structure has no atoms")
        unseen = sorted(set(structure.numbers.tolist()) - self.known_elements)
        if unseen:
            from ase.data import chemical_symbols
            names = ", ".join(chemical_symbols[z] for z in unseen)
            raise PredictionError(f"{structure.source}: model {self.metadata.name} never saw "
                                  f"{names}; it knows {len(self.known_elements)} elements")

    def predict_arrays(self, structures: Sequence[Structure]) -> np.ndarray:
        """[n_structures, n_targets] predictions in the units of metadata.targets."""
        for structure in structures:
            self.check(structure)
        counts = np.array([len(s.numbers) for s in structures], dtype=np.int64)
        positions = np.concatenate([s.positions for s in structures])
        pairs = batched_neighbor_list(positions, np.stack([s.cell for s in structures]),
                                      np.stack([s.pbc for s in structures]), counts,
                                      self.metadata.cutoff, vectors=True)
        if len(pairs.d) and pairs.d.min() < OVERLAP_DISTANCE:
            edge = int(np.argmin(pairs.d))
            graph = int(np.searchsorted(np.cumsum(counts), pairs.i[edge], side="right"))
            raise PredictionError(f"{structures[graph].source}: atoms closer than "
                                  f"{OVERLAP_DISTANCE} Å ({pairs.d[edge]:.3f} Å); "
                                  "atoms on top of each other")
        inputs = {
            "numbers": np.concatenate([s.numbers for s in structures]).astype(np.int64),
            "edge_i": pairs.i.astype(np.int64), "edge_j": pairs.j.astype(np.int64),
            "edge_vectors": pairs.D.astype(np.float32),
            "graph_index": np.repeat(np.arange(len(structures)), counts).astype(np.int64),
            "graph_template": np.zeros(len(structures), dtype=np.float32),
        }
        return self.session.run(None, {name: inputs[name] for name in self.input_names})[0]

    def predict(self, structures: Sequence[Structure]) -> list[dict[str, float]]:
        """One {target: value} per structure, values in the units of metadata.targets."""
        values = self.predict_arrays(structures)
        return [dict(zip(self.target_names, map(float, row), strict=True)) for row in values]
