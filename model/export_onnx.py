"""Export a PropertyModel to ONNX with dynamic atom, edge and graph counts.

The dynamo exporter is used: the legacy one exports index_add without
accumulating repeated indices, silently wrong (see NOTES.md), and a parity
test on graphs with repeated receivers guards this.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import torch

from model.nn.batch import GraphBatch
from model.nn.property_model import PropertyModel

INPUT_NAMES = ["numbers", "edge_i", "edge_j", "edge_vectors", "graph_index", "graph_template"]
OUTPUT_NAME = "properties"


def example_inputs(batch: GraphBatch) -> tuple[torch.Tensor, ...]:
    return (batch.numbers, batch.edge_i, batch.edge_j, batch.edge_vectors().detach().float(),
            batch.graph_index, torch.zeros(batch.n_graphs, dtype=torch.float32))


def export_onnx(model: PropertyModel, path: Path, example: GraphBatch) -> Path:
    """Write model.onnx for float32 inputs; `example` needs ≥ 2 graphs, atoms and edges."""
    if example.n_graphs < 2 or example.edge_i.shape[0] < 2:
        raise ValueError(f"the example batch needs at least 2 graphs and 2 edges so that "
                         f"their counts stay dynamic; got {example.n_graphs} graphs and "
                         f"{example.edge_i.shape[0]} edges")
    model = model.float().eval()
    atoms, edges, graphs = (torch.export.Dim("n_atoms"), torch.export.Dim("n_edges"),
                            torch.export.Dim("n_graphs"))
    dynamic_shapes = ({0: atoms}, {0: edges}, {0: edges}, {0: edges}, {0: atoms}, {0: graphs})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings(), _quiet_loggers():
        warnings.simplefilter("ignore")  # the exporter's notes on axes and deprecations
        program = torch.onnx.export(model, example_inputs(example), dynamo=True,
                                    dynamic_shapes=dynamic_shapes, input_names=INPUT_NAMES,
                                    output_names=[OUTPUT_NAME], verbose=False)
    drop_debug_metadata(program.model)
    program.save(str(path))
    return path


def drop_debug_metadata(model) -> None:
    """Remove the exporter's per-node notes (torch FX node, class hierarchy, the Python
    stack trace with this machine's paths): about 1.2 kB a node, 7% of the shipped
    ensemble's file, and nothing onnxruntime reads."""
    for node in model.graph.all_nodes():
        node.metadata_props.clear()


@contextlib.contextmanager
def _quiet_loggers():
    """Keep the exporter's informational logging off the user's terminal."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "torch.onnx", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
