"""Streamlit UI helpers shared by the pages: configuration, controls, caching, charts."""
