"""How charts reach the page: one chart theme in both modes; projector mode changes only sizes.

Every page draws its charts with ``show_chart``, which applies the project's theme (no grey frame,
left-aligned titles, the same colours everywhere), enlarges text in projector mode, and puts a
small download menu (PNG, SVG, CSV) under the chart.
"""

import re

import altair as alt
import streamlit as st

from app.charts.spec import vega_lite
from app.export import export_menu

FONT = {
    "normal": {"label": 13, "title": 14, "chart_title": 16, "subtitle": 13},
    "projector": {"label": 17, "title": 19, "chart_title": 22, "subtitle": 17},
}


def presentation_mode():
    """True when the projector layout is on (toggle in the sidebar, ``present=1`` in the URL)."""
    return bool(st.session_state.get("presentation", False))


def chart_height(base=320):
    """Chart height in pixels, larger in presentation mode."""
    return int(base * 1.4) if presentation_mode() else base


def _theme(mode):
    """The project's chart configuration at the sizes of ``mode`` ("normal" or "projector")."""
    f = FONT[mode]
    return alt.Config(
        view=alt.ViewConfig(stroke=None),
        axis=alt.AxisConfig(
            labelFontSize=f["label"],
            titleFontSize=f["title"],
            titleFontWeight="normal",
            labelLimit=260,
            gridColor="#e6e6e6",
        ),
        legend=alt.LegendConfig(
            labelFontSize=f["label"], titleFontSize=f["title"], titleFontWeight="normal", labelLimit=300
        ),
        title=alt.TitleConfig(
            fontSize=f["chart_title"],
            subtitleFontSize=f["subtitle"],
            anchor="start",
            fontWeight="bold",
            subtitleColor="#555555",
            limit=0,
        ),
        header=alt.HeaderConfig(labelFontSize=f["title"], titleFontSize=f["title"]),
        text=alt.MarkConfig(fontSize=f["label"]),
    )


THEMES = {mode: _theme(mode) for mode in FONT}  # built once: configure_* calls deep-copy the whole chart


def themed(chart):
    """``chart`` with the project's theme at the sizes of the current mode (normal or projector)."""
    out = chart.copy(deep=False)
    out.config = THEMES["projector" if presentation_mode() else "normal"]
    return out


def _title(chart):
    """The first title text of a chart or of its layers / sub-charts, or ""."""
    title = getattr(chart, "title", alt.Undefined)
    text = getattr(title, "text", title)
    if isinstance(text, str) and text.strip():
        return text
    for part in [*getattr(chart, "layer", []), *getattr(chart, "hconcat", []), *getattr(chart, "vconcat", [])]:
        if found := _title(part):
            return found
    spec = getattr(chart, "spec", None)  # a faceted chart
    return _title(spec) if spec is not None and spec is not alt.Undefined else ""


def chart_name(chart, fallback="chart"):
    """A file-name stem from the chart's title (or ``fallback``): "Accuracy per epoch" → "accuracy-per-epoch"."""
    ascii_title = _title(chart).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60] or fallback


def show_chart(chart, box=None, width="stretch", name=None, export=True):
    """Draw an Altair chart with the project's theme (full width by default) and its download menu.

    ``name`` names the downloaded files (default: from the chart's title); give each chart of a page
    a different one. ``export=False`` leaves the menu out (e.g. small decorative charts).
    """
    box = box or st
    chart = themed(chart)
    box.vega_lite_chart(spec=vega_lite(chart), width=width, theme=None)
    if export:
        export_menu(chart, name or chart_name(chart), box)


def show_table(frame, box=None, formats=None, digits=4):
    """A table of numbers readable from the back of a room: static HTML (``st.table``), which projector mode
    enlarges (a canvas ``st.dataframe`` does not). Floats get ``digits`` significant digits unless ``formats``
    ({column: format string}) says otherwise; NaN shows as "–". The numbers themselves stay in the table."""
    styles = {c: f"{{:.{digits}g}}" for c in frame.select_dtypes("float").columns} | dict(formats or {})
    (box or st).table(frame.style.format(styles, na_rep="–").hide(axis="index"))


def apply_presentation_css():
    """Projector mode: larger text, equations, tables and widget labels (charts: ``themed``)."""
    if not presentation_mode():
        return
    st.markdown(
        """<style>
        [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
        [data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p,
        [data-testid="stAlertContainer"] p { font-size: 1.35rem !important; }
        .katex { font-size: 1.55em !important; }
        [data-testid="stDataFrame"], [data-testid="stTable"] { font-size: 1.25rem !important; }
        [data-testid="stSelectbox"] input, [role="listbox"] [role="option"], [data-testid="stNumberInput"] input,
        .stRadio label p, [data-testid="stTable"] td, [data-testid="stTable"] th,
        .stButton button p { font-size: 1.25rem !important; }
        h1 { font-size: 3.2rem !important; } h2 { font-size: 2.4rem !important; } h3 { font-size: 1.9rem !important; }
        [data-testid="stMetric"] [data-testid="stMetricValue"] * { font-size: 2.8rem !important; }
        [data-testid="stMetric"] [data-testid="stMetricLabel"] * { font-size: 1.3rem !important; }
        </style>""",
        unsafe_allow_html=True,
    )
