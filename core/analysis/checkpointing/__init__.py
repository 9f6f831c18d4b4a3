"""Gradient checkpointing measured: memory and time, sweeps over depth and k, the step-through."""
