"""Altair chart builders: small functions that take tidy DataFrames and return ``alt.Chart``."""
