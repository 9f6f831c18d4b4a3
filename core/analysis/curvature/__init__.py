"""Curvature: the Hessian of a network's loss, loss landscapes, 2-D surfaces (built-in and typed) with optimizer
paths, random matrices."""
