import streamlit as st

from app.controls import sidebar

sidebar()
st.title("backward")
