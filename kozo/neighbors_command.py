"""`kozo neighbors`: periodic neighbours of structure files, summarised.

A person checking a structure wants the coordination and the shortest
distances at a glance, and a histogram of pair distances rather than a list.
`--json` gives the same numbers to programs.
"""

from __future__ import annotations

import argparse
import json
import numpy as np

from kozo.arguments import add_command, add_structure_files
from kozo.errors import KozoError

HISTOGRAM_WIDTH = 40


def add_neighbors_command(commands: argparse._SubParsersAction) -> None:
    parser = add_command(
        commands, "neighbors", help="list periodic neighbours of structure files",
        description="Find all atom pairs closer than a cutoff, across periodic images, and\n"
                    "summarise them: pairs, coordination per element, shortest distance and\n"
                    "a histogram of pair distances. Several files go through one batched call.\n\n"
                    "Examples:\n"
                    "  kozo neighbors NaCl.cif --cutoff 5.0\n"
                    "  kozo neighbors POSCAR molecule.xyz --cutoff 3.5 --json")
    add_structure_files(parser)
    parser.add_argument("--cutoff", type=float, default=5.0,
                        help="pair radius in Å (default: 5.0); pairs with d < cutoff count")
    parser.set_defaults(run=run_neighbors)


def run_neighbors(args: argparse.Namespace) -> int:
    from kernels import batched_neighbor_list
    from model.structure_files import read_structure

    structures = [read_structure(path) for path in args.structures]
    positions = np.concatenate([s.positions for s in structures]).reshape(-1, 3)
    counts = np.array([len(s.numbers) for s in structures], dtype=np.int64)
    try:
        pairs = batched_neighbor_list(positions, np.stack([s.cell for s in structures]),
                                      np.stack([s.pbc for s in structures]), counts, args.cutoff)
    except ValueError as error:
        raise KozoError(str(error)) from None
    atom_offsets = np.concatenate([[0], np.cumsum(counts)])
    pair_offsets = np.concatenate([[0], np.cumsum(pairs.pair_counts)])
    for index, structure in enumerate(structures):
        part = slice(pair_offsets[index], pair_offsets[index + 1])
        summary = summarise(structure, pairs.i[part] - atom_offsets[index], pairs.d[part],
                            args.cutoff)
        if args.json:
            print(json.dumps(summary))
        else:
            print_summary(summary, pairs.d[part], args.cutoff)
    return 0


def summarise(structure, centres: np.ndarray, distances: np.ndarray, cutoff: float) -> dict:
    symbols = np.array(structure.symbols)
    coordination = np.bincount(centres, minlength=len(symbols))
    per_element = {
        element: {"atoms": int((symbols == element).sum()),
                  "mean_neighbors": float(coordination[symbols == element].mean())}
        for element in sorted(set(symbols.tolist()))}
    return {"file": structure.source, "formula": structure.formula, "atoms": len(symbols),
            "pbc": structure.pbc.tolist(), "cutoff": cutoff, "pairs": int(len(distances)),
            "shortest_distance": float(distances.min()) if len(distances) else None,
            "elements": per_element}


def print_summary(summary: dict, distances: np.ndarray, cutoff: float) -> None:
    shortest = summary["shortest_distance"]
    pbc = "".join("xyz"[k] if periodic else "-" for k, periodic in enumerate(summary["pbc"]))
    print(f"{summary['file']}: {summary['formula']}, {summary['atoms']} atoms, "
          f"periodic {pbc}, cutoff {cutoff:g} Å")
    print(f"  pairs (i→j and j→i): {summary['pairs']:,}"
          + (f", shortest {shortest:.3f} Å" if shortest is not None else ""))
    print(f"  {'element':<8}{'atoms':>7}{'mean neighbours':>18}")
    for element, row in summary["elements"].items():
        print(f"  {element:<8}{row['atoms']:>7}{row['mean_neighbors']:>18.2f}")
    if len(distances):
        print("  pair distances (Å):")
        counts, edges = np.histogram(distances, bins=10, range=(0.0, cutoff))
        scale = HISTOGRAM_WIDTH / max(1, counts.max())
        for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
            bar = "█" * int(round(count * scale))
            print(f"  {low:5.2f}–{high:5.2f} {bar} {count}")
