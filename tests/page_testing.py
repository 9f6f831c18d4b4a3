"""What the page tests share: open a page from the entrypoint, and read back what it shows.

A page test asserts on the numbers a student reads, so these helpers return them as data: every
chart's title, Vega-Lite spec and data frames, the metrics, the LaTeX lines, the captions.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from app.views import VIEWS

ENTRYPOINT = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


def _app(context, query):
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    at.context = dict(context or {})
    for name, value in query.items():
        at.query_params[name] = value
    return at


def open_app(context=None, **query):
    """Open the app's address (its Home page) with ``query`` in the URL and ``context`` (e.g. {"url": …}) as the
    browser's; check it ran cleanly."""
    at = _app(context, query)
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(page, context=None, **query):
    """Open ``pages/<page>.py`` directly, as a link to its address would (``query`` in its URL); check that this
    page ran, cleanly.

    A link to /<url_path> asks for the page whose script hash is calc_hash(url_path); AppTest's own
    ``switch_page`` can only resolve a custom url_path after a first run, so the hash is set here.
    """
    at = _app(context, query)
    view = next(v for v in VIEWS if v.path == f"../pages/{page}.py")
    at._page_hash = calc_hash(view.url_path)
    at.run()
    assert not at.exception, at.exception
    assert at._finished_page_script_hash == calc_hash(view.url_path), f"{view.title} did not open"
    return at


@dataclass
class Chart:
    """One chart as the page sent it: its title, its Vega-Lite spec (a dict) and its data sets."""

    title: str
    spec: dict
    frames: list  # [pd.DataFrame, …], one per data set of the chart

    def frame_with(self, *columns):
        """The chart's one data set that has all ``columns``."""
        (frame,) = [f for f in self.frames if set(columns) <= set(f.columns)]
        return frame


def _parts(spec):
    """The sub-specs of a layered, concatenated or faceted spec."""
    facet = [spec["spec"]] if "spec" in spec else []
    return [*spec.get("layer", []), *spec.get("hconcat", []), *spec.get("vconcat", []), *facet]


def _title(spec):
    """The first title text in a spec or its layers / facets ("" when none)."""
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(title)
    if title:
        return title
    for part in _parts(spec):
        if found := _title(part):
            return found
    return ""


def unescaped(text):
    """What a reader sees of a text the page passed through ``app.text.plain``: escapes and word joiners removed."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


def charts(at):
    """Every chart on the page, in page order."""
    out = []
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        frames = [dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data) for d in element.proto.datasets]
        out.append(Chart(_title(spec), spec, frames))
    return out


def chart(at, title_start):
    """The one chart whose title starts with ``title_start``."""
    (found,) = [c for c in charts(at) if c.title.startswith(title_start)]
    return found


def chart_frames(at):
    """The data of every chart on the page, as DataFrames."""
    return [frame for c in charts(at) for frame in c.frames]


def metrics(at):
    """{label: value} of every st.metric."""
    return {m.label: m.value for m in at.metric}


def latex(at):
    """The LaTeX source of every st.latex, in page order."""
    return [e.value for e in at.latex]


def captions(at):
    return [c.value for c in at.caption]


def texts(at):
    """Every caption, markdown, info, warning, error and success text, one string."""
    parts = [*at.caption, *at.markdown, *at.info, *at.warning, *at.error, *at.success]
    return "\n".join(p.value for p in parts)


def table(at, index=0):
    """The numbers of the ``index``-th st.table, a DataFrame (the table's display formats left aside)."""
    return at.table[index].value


def the_trainer(at):
    """The session's most recently created trainer: the current one unless an earlier setup was revisited."""
    trainers = at.session_state["trainers"]
    return trainers[list(trainers)[-1]]


def encoding_fields(spec):
    """Every (channel, encoding) pair of a spec, its layers and facets: for checking titles and formats."""
    found = []
    for channel, enc in spec.get("encoding", {}).items():
        found.append((channel, enc))
    for part in _parts(spec):
        found += encoding_fields(part)
    return found
