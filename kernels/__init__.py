"""Compiled periodic-graph kernels shared by training, the hub and the Pi.

Only numpy and numba are imported here, so that the Raspberry Pi can use them.
"""

from kernels.neighbors import (BatchedNeighbors, NeighborList, Neighbors,
                               batched_neighbor_list, max_pairs, neighbor_list)

__all__ = ["BatchedNeighbors", "NeighborList", "Neighbors", "batched_neighbor_list",
           "max_pairs", "neighbor_list"]
