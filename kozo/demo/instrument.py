"""A simulated instrument: writes sample runs into a folder the way real instruments do.

Each run is a folder with a structure (CIF), a diffraction pattern (two-column
text, 2θ in degrees and intensity, computed from the structure with pymatgen),
a micrograph (PNG) and a line in a shared log that is reopened and appended,
so the edge daemon meets what it meets beside a real instrument: files written
in pieces, closed, reopened; some written under a temporary name and renamed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from kozo.demo.samples import Sample

REFERENCE_PREFIX = "# kozo-reference"  # a CIF comment line: "# kozo-reference heat_all = -1.2 eV/cell"


@dataclass
class Run:
    number: int
    folder: Path
    sample: Sample
    files: list[Path]


def reference_lines(sample: Sample) -> str:
    """CIF comment lines carrying the sample's reference values (readers ignore comments)."""
    return "".join(f"{REFERENCE_PREFIX} {name} = {value:.6g} {sample.units.get(name, '')}\n"
                   for name, value in sample.reference.items())


def read_reference(cif_text: str) -> dict[str, float]:
    """The reference values a simulated instrument wrote into a CIF, by name."""
    values = {}
    for line in cif_text.splitlines():
        if line.startswith(REFERENCE_PREFIX) and "=" in line:
            name, _, rest = line[len(REFERENCE_PREFIX):].partition("=")
            values[name.strip()] = float(rest.split()[0])
    return values


def diffraction_pattern(cif_text: str, two_theta: np.ndarray) -> np.ndarray:
    """Cu Kα powder pattern: pymatgen's peak list broadened by Gaussians, plus a little noise."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.core import Structure

    structure = Structure.from_str(cif_text, fmt="cif")
    peaks = XRDCalculator(wavelength="CuKa").get_pattern(
        structure, two_theta_range=(float(two_theta[0]), float(two_theta[-1])))
    width = 0.12  # degrees
    intensity = np.zeros_like(two_theta)
    for position, height in zip(peaks.x, peaks.y, strict=True):
        intensity += height * np.exp(-0.5 * ((two_theta - position) / width) ** 2)
    noise = np.random.default_rng(len(cif_text)).normal(0.0, 0.5, size=two_theta.shape)
    return np.clip(intensity + 2.0 + noise, 0.0, None)


def micrograph(seed: int, size: int = 256) -> np.ndarray:
    """A grainy grey image: random grains (nearest of a few seeds) with noise, in [0, 1]."""
    generator = np.random.default_rng(seed)
    centres = generator.uniform(0, size, size=(40, 2))
    shades = generator.uniform(0.3, 0.9, size=40)
    y, x = np.mgrid[0:size, 0:size]
    distance = (x[..., None] - centres[:, 0]) ** 2 + (y[..., None] - centres[:, 1]) ** 2
    image = shades[np.argmin(distance, axis=-1)]
    return np.clip(image + generator.normal(0.0, 0.04, size=image.shape), 0.0, 1.0)


def write_in_pieces(path: Path, data: bytes, pieces: int = 3, pause: float = 0.05) -> None:
    """Write, close, reopen and append: how many instrument programs save a file."""
    step = max(1, -(-len(data) // pieces))
    for start in range(0, len(data), step):
        with path.open("ab") as handle:
            handle.write(data[start:start + step])
        time.sleep(pause)


def write_run(root: Path, number: int, sample: Sample) -> Run:
    """One measurement: a folder of files, plus a line in the instrument's log."""
    from matplotlib import pyplot

    folder = root / f"run-{number:04d} {sample.name}"  # instrument software likes spaces
    folder.mkdir(parents=True, exist_ok=True)
    cif = folder / f"{sample.name}.cif"
    write_in_pieces(cif, (reference_lines(sample) + sample.cif).encode())
    two_theta = np.arange(10.0, 80.0, 0.02)
    pattern = diffraction_pattern(sample.cif, two_theta)
    rows = "".join(f"{t:.3f}\t{i:.2f}\n" for t, i in zip(two_theta, pattern, strict=True))
    xrd = folder / "xrd.xy"
    write_in_pieces(xrd, ("# 2theta/deg\tintensity/counts\n" + rows).encode())
    image = folder / "micrograph.png"
    temporary = folder / ".micrograph.png.part"  # written aside, then renamed into place
    pyplot.imsave(temporary, micrograph(number), cmap="gray", format="png")
    temporary.rename(image)
    log = root / "instrument.log"
    with log.open("a") as handle:
        handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} run {number} {sample.name}: "
                     f"{len(rows.splitlines())} points, 1 image\n")
    return Run(number=number, folder=folder, sample=sample, files=[cif, xrd, image, log])


def run_instrument(root: Path, samples: Iterable[Sample], *, interval: float,
                   count: int | None = None,
                   on_run: Callable[[Run], None] | None = None) -> Iterator[Run]:
    """Write runs into `root` every `interval` seconds; `count` None runs until stopped."""
    root.mkdir(parents=True, exist_ok=True)
    for number, sample in enumerate(samples, start=1):
        if count is not None and number > count:
            return
        run = write_run(root, number, sample)
        if on_run:
            on_run(run)
        yield run
        time.sleep(interval)
