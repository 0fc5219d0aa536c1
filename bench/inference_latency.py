"""The quick check: onnxruntime engine against torch eager, one thread, neighbour list included.

Both sides run the same model (the shipped perovskite architecture, from
model/configs/perovskite.toml, with fresh weights: latency does not depend on
their values) on the same structures, with the same kozo neighbour list. The
onnxruntime side is exactly what `kozo predict` and the Pi run: Predictor,
with its input checks. Times are medians of interleaved repeats; the table
gives ratios (above 1: onnxruntime is faster) and, for the 20 ms goal, the
engine's own milliseconds.

    python bench/inference_latency.py [--repeats N] [--keep-freed-memory] [--model NAME]

glibc's malloc hands the large tensors of a torch forward pass back to the OS and
faults their pages in again on the next call (about 6,000 page faults a call at 50
atoms); onnxruntime keeps its own arena. --keep-freed-memory sets the allocator as
kozo's training does (model/allocator.py), for a torch eager at its best.

--model NAME|DIR adds the quick check of that artifact itself (a shipped model
by name, e.g. perovskite, or a folder): the engine's milliseconds at batch size
1, the figure for the 20 ms goal when the artifact is an ensemble of several
networks.
"""

from __future__ import annotations

import os

for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels import batched_neighbor_list  # noqa: E402
from model.allocator import keep_freed_memory  # noqa: E402
from model.artifact import ArtifactMetadata, TargetInfo  # noqa: E402
from model.export_onnx import export_onnx  # noqa: E402
from model.infer import Predictor  # noqa: E402
from model.nn import PaiNN, PropertyHead  # noqa: E402
from model.nn.batch import GraphBatch  # noqa: E402
from model.nn.property_model import PropertyModel  # noqa: E402
from model.nn.readout import TargetSpec  # noqa: E402
from model.pretrained import resolve_model  # noqa: E402
from model.structure_files import Structure  # noqa: E402

SITES = [38, 22, 8, 8, 8]  # SrTiO3
FRACTIONAL = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
SUPERCELLS = {5: (1, 1, 1), 50: (2, 5, 1), 200: (2, 4, 5)}


def perovskite_supercell(repeats: tuple[int, int, int], rng) -> Structure:
    a = 3.905
    shifts = np.array([[i, j, k] for i in range(repeats[0]) for j in range(repeats[1])
                       for k in range(repeats[2])])
    fractional = (FRACTIONAL[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    positions = fractional * a + rng.normal(0, 0.05, (len(fractional), 3))
    return Structure(positions=positions, cell=np.diag(np.array(repeats) * a),
                     pbc=np.ones(3, bool), numbers=np.tile(SITES, len(shifts)),
                     source=f"SrTiO3 {repeats}")


def build_model(config: dict) -> PropertyModel:
    torch.manual_seed(0)
    specs = [TargetSpec("heat_all", "eV/cell", "sum", 0.0, 0.1,
                        atom_reference={z: 0.0 for z in (8, 22, 38)}),
             TargetSpec("ind_gap", "eV", "mean", 1.0, 1.0)]
    backbone = PaiNN(n_features=config["features"], n_interactions=config["interactions"],
                     cutoff=config["cutoff"])
    return PropertyModel(backbone, PropertyHead(config["features"], specs)).float().eval()


def write_artifact(model: PropertyModel, config: dict, example: list[Structure],
                   folder: Path) -> Path:
    export_onnx(model, folder / "model.onnx", graph_batch(example, config["cutoff"]))
    ArtifactMetadata(name="bench", version="0", cutoff=config["cutoff"], elements=[8, 22, 38],
                     targets=[TargetInfo("heat_all", "eV/cell", "sum", 0.0, 0.1),
                              TargetInfo("ind_gap", "eV", "mean", 1.0, 1.0)]).write(folder)
    return folder


def graph_batch(structures: list[Structure], cutoff: float) -> GraphBatch:
    counts = np.array([len(s.numbers) for s in structures])
    pairs = batched_neighbor_list(np.concatenate([s.positions for s in structures]),
                                  np.stack([s.cell for s in structures]),
                                  np.stack([s.pbc for s in structures]), counts, cutoff)
    return GraphBatch(
        numbers=torch.from_numpy(np.concatenate([s.numbers for s in structures])),
        positions=torch.from_numpy(np.concatenate([s.positions for s in structures])).float(),
        cells=torch.from_numpy(np.stack([s.cell for s in structures])).float(),
        graph_index=torch.from_numpy(np.repeat(np.arange(len(structures)), counts)),
        edge_i=torch.from_numpy(pairs.i.astype(np.int64)),
        edge_j=torch.from_numpy(pairs.j.astype(np.int64)),
        cell_shifts=torch.from_numpy(pairs.S).float(), targets={})


def torch_eager(model: PropertyModel, cutoff: float):
    def predict(structures):
        with torch.no_grad():
            return model.predict(graph_batch(structures, cutoff))
    return predict


def repeats_for(repeats: int, atoms: int, batch: int) -> int:
    """Fewer repeats for larger work (batches of 64, more atoms), at least 3."""
    return int(max(3, repeats // (1 if batch == 1 else 8) // (atoms // 5) ** 0.5))


def median_seconds(functions: dict, argument, repeats: int) -> dict[str, float]:
    """Interleaved repeats, so that load on the machine hits both sides alike."""
    times = {name: [] for name in functions}
    for function in functions.values():
        function(argument)  # warm-up: numba cache load, onnxruntime and torch first-call work
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function(argument)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="glibc keeps freed memory in the process (spares torch the "
                             "page faults; onnxruntime has its own arena)")
    parser.add_argument("--model", metavar="NAME|DIR",
                        help="also time this artifact's quick check at batch size 1")
    args = parser.parse_args()
    if args.keep_freed_memory and not keep_freed_memory():
        raise SystemExit("--keep-freed-memory needs glibc's mallopt, not found here")
    torch.set_num_threads(1)
    config = tomllib.loads((ROOT / "model/configs/perovskite.toml").read_text())
    rng = np.random.default_rng(0)
    model = build_model(config)
    with tempfile.TemporaryDirectory() as folder:
        example = [perovskite_supercell((1, 1, 1), rng), perovskite_supercell((1, 1, 2), rng)]
        predictor = Predictor(write_artifact(model, config, example, Path(folder)), threads=1)
        sides = {"onnxruntime": predictor.predict, "torch": torch_eager(model, config["cutoff"])}
        print(f"# PaiNN {config['features']} features, {config['interactions']} interactions, "
              f"cutoff {config['cutoff']} Å; onnxruntime {__import__('onnxruntime').__version__}, "
              f"torch {torch.__version__}; one thread; neighbour list included; allocator: "
              f"{'freed memory kept' if args.keep_freed_memory else 'glibc default'}")
        print(f"{'atoms':>6} {'batch':>6} {'onnxruntime ms':>15} {'torch ms':>9} "
              f"{'torch/ort':>10} {'ort structures/s':>17}")
        for atoms, repeats in SUPERCELLS.items():
            for batch in (1, 64):
                structures = [perovskite_supercell(repeats, rng) for _ in range(batch)]
                check = [sides[name](structures) for name in sides]
                gap = abs(check[0][0]["heat_all"] - float(check[1]["heat_all"][0]))
                assert gap < 1e-3 * max(1.0, abs(check[0][0]["heat_all"])), gap
                medians = median_seconds(sides, structures, repeats_for(args.repeats, atoms, batch))
                ort, eager = medians["onnxruntime"], medians["torch"]
                print(f"{atoms:>6} {batch:>6} {1e3 * ort:>15.2f} {1e3 * eager:>9.2f} "
                      f"{eager / ort:>10.2f} {batch / ort:>17.0f}")
    if args.model:
        time_artifact(resolve_model(args.model), args.repeats, rng)


def time_artifact(folder: Path, repeats: int, rng) -> None:
    """The quick check of a real artifact (ensembles included): engine ms at batch size 1."""
    predictor = Predictor(folder, threads=1)
    members = predictor.metadata.architecture.get("ensemble_members", 1)
    print(f"# artifact {predictor.metadata.name} {predictor.metadata.version} "
          f"({members} network{'s' if members > 1 else ''}): quick check, batch size 1")
    print(f"{'atoms':>6} {'onnxruntime ms':>15}")
    for atoms, repeats_of_cell in SUPERCELLS.items():
        structure = [perovskite_supercell(repeats_of_cell, rng)]
        seconds = median_seconds({"artifact": predictor.predict}, structure,
                                 repeats_for(repeats, atoms, 1))["artifact"]
        print(f"{atoms:>6} {1e3 * seconds:>15.2f}")


if __name__ == "__main__":
    main()
