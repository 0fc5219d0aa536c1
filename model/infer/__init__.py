"""The torch-free inference engine: kernels for the graph, onnxruntime for the model.

This is what the Pi runs for its quick check and what the hub runs for
server-side predictions; it must never import torch.
"""

from model.infer.engine import Predictor, PredictionError

__all__ = ["PredictionError", "Predictor"]
