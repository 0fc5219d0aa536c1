"""The example notebook the demo puts in the demo user's folder.

It reads the user's files through `hub.client` (the token and URL come from
the environment the spawner sets), and plots the edge's quick-check
predictions against the reference values the instrument recorded, when it
recorded any (samples from a data set carry them; prototype samples do not).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("markdown", "# Your instrument's data\n\nThe files below came from the instrument through "
                 "the edge daemon, each structure with a quick-check prediction made on the Pi."),
    ("code", "from hub.client import Hub\n\nhub = Hub()          # URL and token come from the "
             "notebook's environment\nfiles = hub.files()\nprint(len(files), 'files; newest:')\n"
             "for entry in files[:5]:\n    print(' ', entry['path'], entry['size'], 'bytes')"),
    ("code", "from kozo.demo.instrument import read_reference\n\nrows = []\n"
             "for entry in files:\n    if not entry['path'].endswith('.cif') or not "
             "entry['predictions']:\n        continue\n"
             "    predicted = entry['predictions']['values']['heat_all']['value']\n"
             "    reference = read_reference(hub.read_bytes(entry).decode()).get('heat_all')\n"
             "    rows.append((entry['path'].split('/')[-1], predicted, reference))\n"
             "print(len(rows), 'structures with a quick check')"),
    ("code", "import matplotlib.pyplot as plt\n\npaired = [(p, r) for _, p, r in rows if r is not "
             "None]\nfigure, axis = plt.subplots(figsize=(5, 5))\nif paired:\n"
             "    predicted, reference = zip(*paired)\n"
             "    axis.scatter(reference, predicted, s=12)\n"
             "    low, high = min(reference + predicted), max(reference + predicted)\n"
             "    axis.plot([low, high], [low, high], 'k--', lw=1)\n"
             "    axis.set_xlabel('reference heat of formation (eV/cell)')\n"
             "    axis.set_ylabel('quick check (eV/cell)')\n"
             "    axis.set_title(f'{len(paired)} structures')\nelse:\n"
             "    axis.hist([p for _, p, _ in rows], bins=20)\n"
             "    axis.set_xlabel('quick check: heat of formation (eV/cell)')\n"
             "    axis.set_title('no reference values (run kozo demo --data PATH for them)')\n"
             "plt.show()"),
    ("code", "import numpy as np\n\npattern = next(e for e in files if e['path'].endswith('xrd.xy'))"
             "\ntwo_theta, intensity = np.loadtxt(hub.path(pattern), unpack=True)\n"
             "plt.plot(two_theta, intensity, lw=0.8)\nplt.xlabel('2θ (degrees)')\n"
             "plt.ylabel('counts')\nplt.title(pattern['path'])\nplt.show()"),
]


def example_notebook() -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.cells = [new_markdown_cell(text) if kind == "markdown" else new_code_cell(text)
                      for kind, text in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def write_example_notebook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "my-data.ipynb"
    nbformat.write(example_notebook(), path)
    return path
