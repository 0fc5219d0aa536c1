"""The quick property check: structure files get the current model's predictions.

Runs the torch-free `model.infer.engine.Predictor` on CIF, POSCAR/CONTCAR and
(extended) XYZ files. It never stops a file from being sent: a file that
cannot be read or judged travels with `check_error` set instead.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger("kozo.edge.quick_check")

STRUCTURE_SUFFIXES = (".cif", ".xyz", ".extxyz", ".vasp", ".poscar")
STRUCTURE_NAMES = ("poscar", "contcar")


def is_structure_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(STRUCTURE_SUFFIXES) or name.startswith(STRUCTURE_NAMES)


class QuickCheck:
    """Holds the current artifact; `use()` swaps it while checks go on."""

    def __init__(self, artifact: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._predictor = None
        self.artifact: Path | None = None
        if artifact is not None:
            self.use(artifact)

    def use(self, artifact: Path) -> None:
        from model.infer.engine import Predictor

        predictor = Predictor(artifact)
        with self._lock:
            self._predictor, self.artifact = predictor, Path(artifact)
        log.info("quick check uses model %s version %s", predictor.metadata.name,
                 predictor.metadata.version)

    def __call__(self, path: Path) -> tuple[dict | None, str | None]:
        """(predictions, check_error) for the commit; (None, None) for other files."""
        if not is_structure_file(path):
            return None, None
        with self._lock:
            predictor = self._predictor
        if predictor is None:
            return None, None
        from kozo.errors import KozoError
        from model.structure_files import read_structure

        try:
            structure = read_structure(path)
            [values] = predictor.predict([structure])
        except KozoError as error:
            return None, str(error)
        except Exception as error:  # the file is sent regardless; say what went wrong
            return None, f"{path.name}: quick check failed ({type(error).__name__}: {error})"
        units = {t.name: t.unit for t in predictor.metadata.targets}
        return {"model": predictor.metadata.name, "version": str(predictor.metadata.version),
                "values": {name: {"value": value, "unit": units[name]}
                           for name, value in values.items()}}, None
