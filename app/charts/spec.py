"""An Altair chart as the Vega-Lite dict the page and the exported files draw: built in one place.

``alt.Chart.to_dict`` reads Altair's global settings (the data transformer); the app sets them once,
here, and never changes them while it runs, so building specifications needs no lock: the page
hands Streamlit the dict (``st.vega_lite_chart``), and Streamlit leaves Altair's settings alone.
Specifications are not validated against the Vega-Lite schema on every rerun (half of the cost of
``to_dict``): the tests validate every chart every page draws (``tests/conftest.py`` sets
``MLP_LAB_VALIDATE_CHARTS=1``, and a chart that breaks the schema fails the page's test).
"""

import os

import altair as alt

alt.data_transformers.disable_max_rows()  # charts thin their own data (app.charts.common.thin_steps)


VALIDATE = os.environ.get("MLP_LAB_VALIDATE_CHARTS") == "1"


def vega_lite(chart, validate=None):
    """The Vega-Lite dict of ``chart``, its data inline under "datasets"; checked against the schema when
    ``validate`` (default: ``VALIDATE``)."""
    return chart.to_dict(validate=VALIDATE if validate is None else validate)
