"""Crystal generation for inverse design: a joint diffusion over atoms and unit cell.

Fractional coordinates diffuse on the periodic torus with wrapped-normal noise
(DiffCSP, Jiao et al., NeurIPS 2023), the lattice diffuses at the same time in a
rotation-invariant representation, and element types (de novo mode) as
continuous one-hot vectors (DDPM, Ho et al. 2020). The denoiser is a periodic
PaiNN on neighbour lists from `kernels`, so that its per-atom outputs do not
depend on the choice of unit cell. Property conditioning uses classifier-free
guidance (Ho & Salimans 2022).
"""
