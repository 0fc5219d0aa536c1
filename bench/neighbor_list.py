"""Neighbour lists: kozo against vesin, matscipy, ASE and pymatgen in one run.

Prints a table of median times, pair counts and ratios (above 1: kozo is
faster). A peer whose pair count differs from kozo's shows MISMATCH instead of
a time. Single-threaded on every side. Benchmarks print; they do not assert.

    python bench/neighbor_list.py [--quick] [--max-atoms N]
"""

from __future__ import annotations

import argparse
import os

for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import importlib
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PEER_MODULES = ["vesin_peer", "matscipy_peer", "ase_peer", "pymatgen_peer"]


@dataclass
class Case:
    name: str
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    cutoff: float


def load_peers():
    peers = []
    for module_name in PEER_MODULES:
        try:
            peers.append(importlib.import_module(f"bench.peers.{module_name}"))
        except ImportError as error:
            print(f"# {module_name}: not installed ({error}); skipped")
    return peers


def crystal_cases(max_atoms: int) -> list[Case]:
    from ase.build import bulk
    cases = []
    for cutoff in (5.0, 6.0):
        for label, atoms, repeats in (("fcc Cu", bulk("Cu", "fcc", a=3.61, cubic=True), (2, 4, 8, 16, 20)),
                                      ("diamond Si", bulk("Si", "diamond", a=5.43, cubic=True), (1, 2, 4, 8, 16))):
            for n in repeats:
                supercell = atoms.repeat(n)
                if len(supercell) > max_atoms:
                    continue
                supercell.rattle(0.01, seed=n)
                cases.append(Case(f"{label} {n}x{n}x{n}", supercell.positions,
                                  supercell.cell.array, np.ones(3, bool), cutoff))
    rng = np.random.default_rng(5)
    skewed = np.array([[1.0, 0, 0], [2.6, 1.0, 0], [-1.7, 2.3, 1.0]])  # a unit volume, strongly skewed
    for n_atoms in (96, 768, 6144):
        if n_atoms <= max_atoms:
            cell = skewed * (n_atoms / 0.08) ** (1 / 3)  # solid-like density, 0.08 atoms/Å^3
            fractional = rng.uniform(0, 1, (n_atoms, 3))
            cases.append(Case("skewed triclinic", fractional @ cell, cell, np.ones(3, bool), 6.0))
    cases.append(Case("2 atoms, cutoff > cell", np.array([[0.0, 0, 0], [0.9, 1.1, 1.3]]),
                      np.array([[2.5, 0, 0], [0.4, 2.6, 0], [0.3, 0.2, 2.4]]), np.ones(3, bool), 8.0))
    cases.append(Case("cluster (no pbc)", rng.uniform(0, 11, (100, 3)), 30.0 * np.eye(3),
                      np.zeros(3, bool), 5.0))
    return cases


def random_batch(n_structures: int = 1000, seed: int = 0):
    """Random crystals of 5-40 atoms at solid-like density (~0.06 atoms/Å^3)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(5, 41, n_structures)
    cells, positions = [], []
    for count in counts:
        lengths = (count / 0.06) ** (1 / 3) * rng.uniform(0.7, 1.3, 3)
        cell = np.diag(lengths) + rng.uniform(-0.3, 0.3, (3, 3)) * lengths.mean()
        cells.append(cell)
        positions.append(rng.uniform(0, 1, (count, 3)) @ cell)
    return np.concatenate(positions), np.stack(cells), np.ones((n_structures, 3), bool), counts


def median_time(function, budget: float = 1.0, max_repeats: int = 20) -> float:
    return interleaved_medians([function], budget, max_repeats)[0]


def interleaved_medians(functions, budget: float = 2.0, max_repeats: int = 21,
                        block: float = 0.02) -> list[float]:
    """Median time per call of each function, taking them in turn round after round.

    The machines are shared and their speed drifts within seconds: sampling
    every contender side by side keeps the ratios honest. Within a round each
    function runs a block of calls (about `block` seconds) so that a fast call
    is not timed with the caches another contender just emptied.
    """
    first = []
    for function in functions:
        function()  # warm-up (compilation, caches)
        t0 = time.perf_counter()
        function()
        first.append(time.perf_counter() - t0)
    calls = [max(1, int(block / max(elapsed, 1e-9))) for elapsed in first]
    per_round = sum(n * elapsed for n, elapsed in zip(calls, first, strict=True))
    rounds = int(min(max_repeats, max(3, budget / max(per_round, 1e-9))))
    samples = [[] for _ in functions]
    for _ in range(rounds):
        for function, n_calls, times in zip(functions, calls, samples, strict=True):
            t0 = time.perf_counter()
            for _ in range(n_calls):
                function()
            times.append((time.perf_counter() - t0) / n_calls)
    return [statistics.median(times) for times in samples]


def cold_start(code: str, repeats: int = 5) -> float:
    """Median wall time of a new interpreter importing and making one call."""
    subprocess.run([sys.executable, "-c", code], check=True)  # warm the on-disk caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-atoms", type=int, default=32768,
                        help="skip supercells above this many atoms (default: 32768)")
    parser.add_argument("--quick", action="store_true", help="up to 2048 atoms, no cold start")
    args = parser.parse_args()
    max_atoms = 2048 if args.quick else args.max_atoms

    from bench.peers import kozo_peer
    peers = load_peers()
    print("neighbor_list vs peers (" + ", ".join(f"{p.name} {p.version()}" for p in peers)
          + f"; kozo {kozo_peer.version()}); median time per call, single thread")
    header = (f"{'case':<24}{'atoms':>7}{'cut Å':>6}{'pairs':>10}{'kozo':>10}"
              + "".join(f"{p.name:>11}" for p in peers) + f"{'best peer/kozo':>16}")
    print(header)
    print("-" * len(header))

    for case in crystal_cases(max_atoms):
        arguments = (case.positions, case.cell, case.pbc)
        kozo_compute = kozo_peer.prepare(case.cutoff)
        n_pairs = kozo_compute(*arguments)
        contenders = [lambda: kozo_compute(*arguments)]
        cells = {}
        for peer in peers:
            if peer.name == "ase" and len(case.positions) > 4096:
                cells[peer.name] = "skipped"
                continue
            compute = peer.prepare(case.cutoff)
            if compute(*arguments) != n_pairs:
                cells[peer.name] = "MISMATCH"
                continue
            cells[peer.name] = len(contenders)
            contenders.append(lambda compute=compute: compute(*arguments))
        times = interleaved_medians(contenders)
        peer_times = times[1:]
        row = "".join(f"{cells[p.name] if isinstance(cells[p.name], str) else format_time(times[cells[p.name]]):>11}"
                      for p in peers)
        best = f"{min(peer_times) / times[0]:.2f}×" if peer_times else "—"
        print(f"{case.name:<24}{len(case.positions):>7}{case.cutoff:>6.1f}{n_pairs:>10}"
              f"{format_time(times[0]):>10}" + row + f"{best:>16}", flush=True)

    positions, cells_batch, pbcs, counts = random_batch()
    cutoff = 5.0
    n_pairs = kozo_peer.compute_batch(positions, cells_batch, pbcs, counts, cutoff)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    variants = [("batch 1000 x 5-40 at.", None),
                ("  same, reused object", kozo_peer.prepare_batch(cutoff, 1)),
                ("  reused, 2 threads", kozo_peer.prepare_batch(cutoff, 2))]
    contenders = [
        (lambda: kozo_peer.compute_batch(positions, cells_batch, pbcs, counts, cutoff))
        if calculator is None else (lambda calculator=calculator: calculator(
            positions, cells_batch, pbcs, counts))
        for _label, calculator in variants]
    assert all(contender() == n_pairs for contender in contenders)
    cells = {}
    for peer in peers:
        if peer.name == "ase":  # about 100× slower than the rest: 20 s a round
            cells[peer.name] = "skipped"
            continue
        compute = peer.prepare(cutoff)

        def loop(compute=compute):
            return sum(compute(positions[offsets[s]:offsets[s + 1]], cells_batch[s], pbcs[s])
                       for s in range(len(counts)))
        if loop() != n_pairs:
            cells[peer.name] = "MISMATCH"
            continue
        cells[peer.name] = len(contenders)
        contenders.append(loop)
    times = interleaved_medians(contenders, budget=10.0, max_repeats=9)
    peer_times = times[len(variants):]
    row = "".join(f"{cells[p.name] if isinstance(cells[p.name], str) else format_time(times[cells[p.name]]):>11}"
                  for p in peers)
    for index, (label, _calculator) in enumerate(variants):
        best = f"{min(peer_times) / times[index]:.2f}×" if peer_times else "—"
        print(f"{label:<24}{int(counts.sum()):>7}{cutoff:>6.1f}{n_pairs:>10}"
              f"{format_time(times[index]):>10}" + row + f"{best:>16}")
    print("(peers loop over the 1000 structures in Python, one thread; kozo makes one batched call;"
          " ASE skipped: about 20 s a call)")

    if not args.quick:
        print("\ncold start: new process, warm caches, import + first call (64 atoms, 5 Å)")
        kozo_cold = cold_start(kozo_peer.COLD_START)
        line = f"  kozo {format_time(kozo_cold)}"
        for peer in peers:
            line += f"   {peer.name} {format_time(cold_start(peer.COLD_START))}"
        print(line)


if __name__ == "__main__":
    main()
