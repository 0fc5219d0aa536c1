"""Include and exclude patterns decide which files are instrument data."""

from pathlib import Path

import pytest

from edge.config import DEFAULT_EXCLUDE
from edge.selection import Selection

ONE = Selection([Path("/srv/xrd")], ["*"], DEFAULT_EXCLUDE)
CIF_ONLY = Selection([Path("/srv/xrd")], ["*.cif"], DEFAULT_EXCLUDE)
TWO = Selection([Path("/srv/xrd"), Path("/mnt/gadget")], ["*"], [])


@pytest.mark.parametrize("selection, path, expected", [
    (ONE, "/srv/xrd/a.dat", "a.dat"),
    (ONE, "/srv/xrd/run 1/ü.dat", "run 1/ü.dat"),
    (ONE, "/srv/xrd/a.tmp", None),
    (ONE, "/srv/xrd/.hidden/a.dat", None),
    (ONE, "/srv/xrd/~lock.dat~", None),
    (ONE, "/srv/other/a.dat", None),
    (CIF_ONLY, "/srv/xrd/deep/SrTiO3.cif", "deep/SrTiO3.cif"),
    (CIF_ONLY, "/srv/xrd/deep/notes.txt", None),
    (TWO, "/mnt/gadget/a.dat", "gadget/a.dat"),
    (TWO, "/srv/xrd/a.dat", "xrd/a.dat"),
])
def test_the_hub_path_of_a_file_or_none_when_not_taken(selection, path, expected):
    assert selection.relative_path(Path(path)) == expected
