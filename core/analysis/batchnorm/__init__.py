"""Batch norm's effect on training, its experiments, and one layer up close."""
