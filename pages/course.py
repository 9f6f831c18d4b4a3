"""A view under construction."""

import streamlit as st

from app.controls import sidebar

sidebar()
st.info("This view is being built.")
