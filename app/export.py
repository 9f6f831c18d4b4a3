"""What a page shows, as files a lecturer carries into slides: PNG, SVG and CSV of every chart,
a run's history, weights and metrics, and a link that reopens the same view.

Every CSV goes through ``csv_text``, which keeps a spreadsheet from reading a text cell (a class name
from an uploaded file, say) as a formula.

Charts render offline with ``vl_convert`` (Vega-Lite compiled and drawn in-process, no browser,
no network: external data URLs are refused). Text is set in DejaVu Sans where the machine has it
(Debian's fonts-dejavu-core, which Chromium pulls in), otherwise in the Liberation Sans that
vl-convert carries, which lacks a few glyphs (subscripts such as x₁, ✓, ⊙).

Every download is lazy: the buttons hold a function that runs only when clicked, on a thread of
its own, so a page with ten charts renders nothing extra on a rerun. Those functions only read:
the Playground may be training in the script thread at the same time.
"""

import re
import unicodedata
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st

from app.charts.spec import vega_lite
from app.text import plain
from core.training.runs import RunFileError, read_run, run_zip, weights_npz

EXPORT_WIDTH = 800  # px, the width given to a chart drawn "container"-wide (or with no width)
PNG_SCALE = 2  # projector resolution: an 800-px chart becomes a 1,600-px image
EXPORT_FONT = "DejaVu Sans, sans-serif"
PART_COLUMN = "chart_layer"  # names the layer or sub-chart of each CSV row when there are several
MAX_UPLOAD_MB = 64
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as a formula's start

# ---- charts → PNG, SVG ----


def chart_spec(chart, width=EXPORT_WIDTH):
    """The Vega-Lite dict of ``chart``, sized for a file instead of a page.

    A single or layered chart without a pixel width gets ``width``; the sub-charts of a
    concatenation share it; a facet or repeat cell drawn "container"-wide gets the default cell width.
    """
    spec = _fixed_size(vega_lite(chart), width)
    spec.setdefault("config", {}).setdefault("font", EXPORT_FONT)
    return spec


def _fixed_size(spec, width):
    """A copy of ``spec`` with pixel widths where the page would have used the container's."""
    spec = dict(spec)
    for key in ("hconcat", "vconcat", "concat"):
        if key in spec:
            n = len(spec[key])
            columns = 1 if key == "vconcat" else min(spec.get("columns") or n, n)
            spec[key] = [_fixed_size(sub, max(width // columns, 50)) for sub in spec[key]]
            return spec
    if "facet" in spec or "repeat" in spec:
        inner = dict(spec["spec"])
        if inner.get("width") == "container":
            del inner["width"]  # Vega-Lite's default cell width
        if inner.get("height") == "container":
            del inner["height"]
        spec["spec"] = inner
        return spec
    if spec.get("width") in (None, "container"):
        spec["width"] = width
    if spec.get("height") == "container":
        del spec["height"]
    return spec


def chart_png(chart, scale=PNG_SCALE):
    """PNG bytes of ``chart``, ``scale`` times its pixel size (2: 1,600 px wide for an 800-px chart)."""
    import vl_convert

    return vl_convert.vegalite_to_png(chart_spec(chart), scale=scale, allowed_base_urls=[])


def chart_svg(chart):
    """SVG text of ``chart``; its text stays text (searchable, editable in a slide)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart_spec(chart), allowed_base_urls=[])


# ---- charts → the data behind them ----


def _inline_frames(chart):
    """[(part name, DataFrame)] for every distinct inline data set of ``chart`` and its sub-charts.

    Part names follow the composition: "chart" for the top level, "layer 2: line" (a layer's mark),
    "hconcat 1: Loss per epoch / layer 1: line" (a sub-chart's title, else its mark).
    """
    found, seen = [], set()

    def visit(node, path):
        data = getattr(node, "data", alt.Undefined)
        frame = _as_frame(data)
        if frame is not None and id(data) not in seen:
            seen.add(id(data))
            found.append((" / ".join(path) or "chart", frame))
        for key in ("layer", "hconcat", "vconcat", "concat"):
            subs = getattr(node, key, alt.Undefined)
            if isinstance(subs, list):
                for i, sub in enumerate(subs, start=1):
                    label = _part_label(sub, use_title=key != "layer")  # layers share the chart's title
                    visit(sub, [*path, f"{key} {i}" + (f": {label}" if label else "")])
        inner = getattr(node, "spec", alt.Undefined)
        if inner is not alt.Undefined and not isinstance(inner, dict):
            visit(inner, path)

    visit(chart, [])
    return found


def _as_frame(data):
    """A DataFrame for inline data (a DataFrame or ``values``), None for a URL, a name or nothing."""
    if isinstance(data, pd.DataFrame):
        return data
    values = data.to_dict().get("values") if isinstance(data, alt.InlineData) else None
    if isinstance(values, list):
        frame = pd.DataFrame(values)
        return frame.rename(columns={0: "data"}) if values and not isinstance(values[0], dict) else frame
    return None


def _part_label(node, use_title=True):
    """A sub-chart's title (when ``use_title``), else its mark type, else ""."""
    title = getattr(node, "title", alt.Undefined)
    text = getattr(title, "text", title)
    if use_title and isinstance(text, str) and text:
        return text
    mark = getattr(node, "mark", alt.Undefined)
    mark = getattr(mark, "type", mark)
    return mark if isinstance(mark, str) else ""


def chart_frames(chart):
    """The data behind ``chart`` as one long-form DataFrame.

    With several inline data sets (layers or sub-charts with their own data) the rows are stacked,
    the union of their columns, and a first column ``chart_layer`` names where each row comes from.
    No inline data: an empty DataFrame.
    """
    parts = _inline_frames(chart)
    if not parts:
        return pd.DataFrame()
    if len(parts) == 1:
        return parts[0][1]
    column = PART_COLUMN
    while any(column in frame.columns for _, frame in parts):
        column = "_" + column
    columns = [column, *dict.fromkeys(c for _, frame in parts for c in frame.columns)]  # the union, in order
    stacked = pd.concat([frame.assign(**{column: name}) for name, frame in parts], ignore_index=True)
    return stacked[columns]


def chart_csv(chart):
    """``chart_frames(chart)`` as CSV text (no index column)."""
    return csv_text(chart_frames(chart))


def csv_text(frame):
    """``frame`` as CSV text (no index column) that a spreadsheet opens as data, never as formulas.

    A text cell or column name that starts with = + - @, a tab or a carriage return gets a leading
    single quote (OWASP's advice against CSV injection): ``=HYPERLINK(…)`` is written ``'=HYPERLINK(…)``.
    Only text is touched: numbers stay numbers, −1.5 in a numeric column stays -1.5. Lines end in CRLF
    (RFC 4180), so that a cell holding a line break is quoted and cannot start a row of its own.
    """
    safe = frame.rename(columns=_defused)
    for i, dtype in enumerate(safe.dtypes):
        if dtype.kind == "O":  # object, string and category columns: where text lives
            safe.isetitem(i, safe.iloc[:, i].map(_defused))
    return safe.to_csv(index=False, lineterminator="\r\n")


def _defused(cell):
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_START) else cell


# ---- the menu under a chart ----


def slugify(name, fallback="chart"):
    """A file-name stem from a chart's name: lower case, ASCII letters, digits and hyphens (x₁ → x1)."""
    ascii_name = unicodedata.normalize("NFKD", str(name)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:60].strip("-")
    return slug or fallback


def export_menu(chart, name, container=None):
    """A small "Download" menu under a chart: PNG, SVG and CSV of it, made only when clicked.

    Args:
        chart: the Altair chart the page shows.
        name: unique on the page; gives the widget keys and the file names (slugified).
        container: where the menu goes (a column, the sidebar…); the page body when None.
    """
    stem = slugify(name)
    has_data = bool(_inline_frames(chart))
    menu = (container or st).popover("Download", icon=":material/download:", type="tertiary", key=f"export:{name}")
    _button(
        menu,
        "PNG image (for slides)",
        lambda: chart_png(chart),
        f"{stem}.png",
        "image/png",
        f"export:{name}:png",
        ":material/image:",
        f"{EXPORT_WIDTH * PNG_SCALE:,} px wide, white background.",
    )
    _button(
        menu,
        "SVG (vector)",
        lambda: chart_svg(chart),
        f"{stem}.svg",
        "image/svg+xml",
        f"export:{name}:svg",
        ":material/draw:",
        "Sharp at any size; the text stays text.",
    )
    _button(
        menu,
        "CSV data",
        lambda: chart_csv(chart),
        f"{stem}.csv",
        "text/csv",
        f"export:{name}:csv",
        ":material/table:",
        "The numbers behind the chart, one row per point." if has_data else "This chart has no data table.",
        disabled=not has_data,
    )


def _button(box, label, data, file_name, mime, key, icon, help_text, disabled=False):
    """A download button whose file is made only when clicked (``data`` a callable), without a rerun."""
    box.download_button(
        label,
        data=data,
        file_name=file_name,
        mime=mime,
        key=key,
        on_click="ignore",
        icon=icon,
        help=help_text,
        disabled=disabled,
    )


# ---- a training run → files, and back (the files themselves: core.training.runs) ----


def run_downloads(trainer, name="run", container=None):
    """Download buttons for a run: everything as one .zip, the history as CSV, the weights as .npz.

    Args:
        trainer: the ``core.training.trainer.Trainer`` whose run is saved; read at click time.
        name: gives the file names (slugified) and the widget keys; unique on the page.
        container: where the buttons go; the page body when None.
    """
    stem = slugify(name, fallback="run")
    row = (container or st).container(horizontal=True)
    _button(
        row,
        "Run (.zip)",
        lambda: run_zip(trainer),
        f"{stem}.zip",
        "application/zip",
        f"run:{name}:zip",
        ":material/folder_zip:",
        "Best weights, metrics and history in one file; *Load a saved run* reads it back.",
    )
    _button(
        row,
        "History (.csv)",
        lambda: csv_text(trainer.history()),
        f"{stem}-history.csv",
        "text/csv",
        f"run:{name}:csv",
        ":material/table:",
        "Loss and accuracy per epoch, train and validation.",
    )
    _button(
        row,
        "Weights (.npz)",
        lambda: weights_npz(trainer.best["weights"]),
        f"{stem}-weights.npz",
        "application/octet-stream",
        f"run:{name}:npz",
        ":material/download:",
        "The best-on-validation weights, W1, b1, …, as NumPy arrays.",
    )


def run_upload(container=None, key="run_upload"):
    """A file uploader for a saved run (.zip from ``run_downloads``, or a weights .npz alone).

    Returns the ``LoadedRun``, or None when nothing (valid) is uploaded; a bad file gets a one-line
    error under the uploader. Whether the weights fit the current data is the caller's check
    (``reopened_run``).
    """
    box = container or st
    upload = box.file_uploader(
        "Load a saved run",
        type=["zip", "npz"],
        key=key,
        max_upload_size=MAX_UPLOAD_MB,
        help="A run downloaded from the Playground (.zip), or its weights (.npz).",
    )
    if upload is None:
        return None
    try:
        return read_run(upload.name, upload.getvalue())
    except RunFileError as e:
        box.error(plain(e), icon=":material/error:")
        return None


def reopened_run(run, trainer):
    """One line on a run read back by ``run_upload``: its network and, when its weights fit the live network
    (the same arrays and shapes, and the same activation when the file names one), their test accuracy here.

    The live run is untouched: ``trainer.evaluate`` builds a model of its own from the weights.
    """
    live = trainer.weights()
    saved = (run.metrics or {}).get("config")
    activation = saved.get("activation") if isinstance(saved, dict) else None
    network = " → ".join(f"{w:,}" for w in run.widths) + ("" if activation is None else f", {plain(activation)}")
    fits = activation in (None, trainer.config.activation) and run.weights.keys() == live.keys()
    if not (fits and all(run.weights[k].shape == a.shape for k, a in live.items())):
        return f"Its network ({network}) is not the sidebar's: choose the same layers, batch norm and activation."
    _, accuracy = trainer.evaluate("test", weights=run.weights)
    return f"Its weights ({network}) classify {accuracy:.1%} of this data's test set; the run above keeps its own."


# ---- a link to this view ----


def view_link(base_url, query):
    """The address that reopens this view: ``base_url`` (scheme, host, page path) plus ``query``.

    ``query`` maps names to a value or a list of values (repeated names). Without a base URL
    (the browser did not send it) the link is the query alone, relative to the page's address.
    """
    pairs = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list | tuple) else [vs])]
    q = urlencode(pairs)
    base = (base_url or "").split("?")[0].split("#")[0]
    return f"{base}?{q}" if q else base


def copy_link(container=None):
    """A "link to this view" line with a copy button: the page's address with its configuration.

    Call it after the page has written its configuration to ``st.query_params``.
    """
    box = container or st
    query = {k: st.query_params.get_all(k) for k in st.query_params}
    link = view_link(st.context.url, query)
    box.caption("Link to this view" if st.context.url else "Link to this view (add it to this page's address)")
    box.code(link, language=None)
