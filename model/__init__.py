"""Structures, datasets, graph neural networks, training, export and the torch-free inference engine."""
