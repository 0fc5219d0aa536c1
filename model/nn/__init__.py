"""Graph neural networks for periodic structures (torch): PaiNN and a SchNet baseline.

Neighbour lists are built outside the networks (by `kernels`); the networks
take edge vectors, so that the same graph feeds training, export and the Pi.
"""

from model.nn.batch import GraphBatch, collate
from model.nn.painn import PaiNN
from model.nn.readout import PropertyHead
from model.nn.schnet import SchNet

__all__ = ["GraphBatch", "PaiNN", "PropertyHead", "SchNet", "collate"]
