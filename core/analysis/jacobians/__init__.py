"""Jacobians: of every module three ways, and of the whole network."""
