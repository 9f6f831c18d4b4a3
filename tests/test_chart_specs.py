"""The app hands Streamlit Vega-Lite dicts it does not validate; the tests validate every one a page draws."""

import altair as alt
import pandas as pd
import pytest

from app.charts import spec


def test_every_page_test_validates_the_charts_it_draws():
    assert spec.VALIDATE  # tests/conftest.py turns it on before any page runs


def test_a_chart_that_breaks_the_schema_fails_where_it_is_drawn():
    chart = alt.Chart(pd.DataFrame({"a": [1.0]})).mark_point().encode(x="a:Q")
    chart.mark = "nonsense"  # not a Vega-Lite mark
    assert spec.vega_lite(chart, validate=False)["mark"] == {"type": "nonsense"}  # what the app would hand Streamlit
    with pytest.raises(Exception, match="nonsense"):
        spec.vega_lite(chart)
