"""Pure computation for MLP Backprop Lab: no streamlit, arrays in, arrays or DataFrames out."""
