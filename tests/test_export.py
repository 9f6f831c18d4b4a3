"""Exports: every chart kind gives a valid PNG, SVG and CSV offline; a saved run reads back; bad files are refused."""

import csv
import io
import json
import zipfile
from xml.etree import ElementTree

import altair as alt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from app.charts.spec import vega_lite
from app.charts.training import decision_regions
from app.export import (
    EXPORT_WIDTH,
    PART_COLUMN,
    chart_csv,
    chart_frames,
    chart_png,
    chart_spec,
    chart_svg,
    csv_text,
    slugify,
    view_link,
)
from core.analysis.traces.evaluation import decision_grid, points_frame
from core.data import load_csv, load_dataset
from core.training.config import TrainConfig
from core.training.runs import RunFileError, load_run, read_run, run_files, run_zip, weights_npz
from core.training.trainer import Trainer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURVE = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [1.2, 0.7, 0.5, 0.4], "split": ["train"] * 4})
VAL = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [1.3, 0.9, 0.8, 0.8], "split": ["validation"] * 4})
BOTH = pd.concat([CURVE, VAL], ignore_index=True)


def line(frame, title=alt.Undefined):
    return alt.Chart(frame, title=title).mark_line().encode(x="epoch:Q", y="loss:Q")


def plain():
    return line(BOTH, "Plain loss curve").properties(width="container")  # as Streamlit pages draw them


def layered():
    points = alt.Chart(VAL).mark_point().encode(x="epoch:Q", y="loss:Q")
    return alt.layer(line(CURVE), points).properties(title="Layered train and validation")


def faceted():
    return line(BOTH).properties(width=420).facet(column="split:N", title="Faceted by split")


def concatenated():
    return alt.hconcat(line(CURVE, "Left train"), line(VAL, "Right validation")).properties(title="Concatenated pair")


# (chart, its title, rows of data behind it, the narrowest PNG at scale 2, parts named in the CSV)
CHARTS = {
    "plain": (plain, "Plain loss curve", 8, 2 * EXPORT_WIDTH, None),
    "layered": (layered, "Layered train and validation", 8, 2 * EXPORT_WIDTH, ["layer 1: line", "layer 2: point"]),
    "faceted": (faceted, "Faceted by split", 8, 2 * 2 * 420, None),
    "concatenated": (
        concatenated,
        "Concatenated pair",
        8,
        2 * EXPORT_WIDTH,
        ["hconcat 1: Left train", "hconcat 2: Right validation"],
    ),
}


@pytest.mark.parametrize("kind", CHARTS)
def test_png_is_a_projector_sized_image_with_its_title_drawn(kind):
    make, _, _, min_width, _ = CHARTS[kind]
    png = chart_png(make())
    assert png[:8] == PNG_MAGIC
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every pixel: a truncated file fails here
    assert image.width >= min_width and image.height >= 200
    top = np.asarray(image.convert("L"))[: 2 * 22]  # the title band, 22 px at scale 2
    assert (top < 100).sum() > 200, "the title's text was not drawn"


@pytest.mark.parametrize("kind", CHARTS)
def test_svg_parses_and_carries_the_title_as_text(kind):
    make, title, _, _, _ = CHARTS[kind]
    svg = chart_svg(make())
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg") and svg.lstrip().startswith("<svg")
    assert title in "".join(root.itertext())


@pytest.mark.parametrize("kind", CHARTS)
def test_csv_parses_back_with_every_row_and_names_the_parts(kind):
    make, _, n_rows, _, parts = CHARTS[kind]
    back = pd.read_csv(io.StringIO(chart_csv(make())))
    assert len(back) == n_rows
    assert sorted(back.loss) == sorted(BOTH.loss)
    if parts is None:
        assert list(back.columns) == list(BOTH.columns)
    else:
        assert back.columns[0] == PART_COLUMN and list(back[PART_COLUMN].unique()) == parts


def test_a_container_wide_chart_gets_a_fixed_width_and_a_pixel_width_is_kept():
    assert chart_spec(plain())["width"] == EXPORT_WIDTH
    assert chart_spec(line(CURVE))["width"] == EXPORT_WIDTH  # no width at all
    assert chart_spec(line(CURVE).properties(width=500))["width"] == 500
    halves = chart_spec(concatenated())["hconcat"]
    assert [h["width"] for h in halves] == [EXPORT_WIDTH // 2] * 2
    assert "width" not in chart_spec(line(CURVE).properties(width="container").facet("split:N"))["spec"]


def test_csv_of_layers_with_their_own_columns_is_the_union_and_keeps_a_clashing_column():
    frame = pd.DataFrame({"epoch": [1, 2], PART_COLUMN: ["a", "b"]})  # a column already named like ours
    chart = alt.layer(line(CURVE), alt.Chart(frame).mark_rule().encode(x="epoch:Q"))
    out = chart_frames(chart)
    assert list(out.columns) == ["_" + PART_COLUMN, "epoch", "loss", "split", PART_COLUMN]
    assert len(out) == 6 and out[PART_COLUMN].tolist()[-2:] == ["a", "b"]


def test_inline_values_are_data_and_a_url_is_not():
    values = alt.Chart(alt.InlineData(values=[{"epoch": 1, "loss": 0.5}])).mark_point().encode(x="epoch:Q")
    assert chart_frames(values).to_dict("records") == [{"epoch": 1, "loss": 0.5}]
    assert chart_frames(alt.Chart("https://example.invalid/x.csv").mark_point()).empty


def test_exports_never_fetch_a_url():
    chart = alt.Chart("https://example.invalid/data.csv").mark_point().encode(x="a:Q")
    with pytest.raises(ValueError, match="not allowed"):
        chart_png(chart)
    with pytest.raises(ValueError, match="not allowed"):
        chart_svg(chart)


def test_more_rows_than_altairs_default_limit_export_and_draw():
    big = pd.DataFrame({"epoch": np.arange(6_000), "loss": np.linspace(1, 0, 6_000)})
    spec = chart_spec(line(big))
    assert len(next(iter(spec["datasets"].values()))) == 6_000
    assert len(next(iter(vega_lite(line(big))["datasets"].values()))) == 6_000  # what the page draws


HOSTILE_CLASSES = ['=HYPERLINK("https://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "=1+2"]


def test_text_cells_that_a_spreadsheet_would_run_are_quoted_and_numbers_stay_numbers():
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["x0", "x1", "label"])
    for i, (x0, x1) in enumerate(np.random.default_rng(0).normal(size=(50, 2))):
        writer.writerow([f"{x0:.3f}", f"{x1:.3f}", HOSTILE_CLASSES[i % 5]])
    data = load_csv(text.getvalue().encode())  # an uploaded file whose class names are formulas
    assert sorted(data.class_names) == sorted(HOSTILE_CLASSES)
    uniform = lambda X: np.full((len(X), 5), 0.2)  # noqa: E731
    chart = decision_regions(decision_grid(uniform, data, resolution=4), points_frame(data), data.class_names)
    table = list(csv.reader(io.StringIO(chart_csv(chart))))  # the Playground's decision regions, downloaded
    header, body = table[0], table[1:]
    names = {row[header.index(column)] for row in body for column in ("predicted", "class")} - {""}
    assert names == {"'" + name for name in HOSTILE_CLASSES}  # every class name, quoted once
    x0 = np.array([float(row[header.index("x0")]) for row in body])  # the coordinates are numbers, signs kept
    assert (x0 < 0).any() and np.array_equal(x0, chart_frames(chart)["x0"].to_numpy())


def test_csv_text_quotes_text_of_every_kind_and_leaves_other_columns_alone():
    frame = pd.DataFrame(
        {
            "value": [-1.5, 2.0, -3.0],
            "count": [-1, 2, 3],
            "text": ["=1+1", "ok", None],
            "category": pd.Categorical(["@x", "-y", "\rz"]),
            "mixed": ["+1", -2.5, "\tcmd"],
            "=head": [1, 2, 3],
        }
    )
    header, *rows = csv.reader(io.StringIO(csv_text(frame)))
    assert header == ["value", "count", "text", "category", "mixed", "'=head"]
    assert rows == [
        ["-1.5", "-1", "'=1+1", "'@x", "'+1", "1"],
        ["2.0", "2", "ok", "'-y", "-2.5", "2"],
        ["-3.0", "3", "", "'\rz", "'\tcmd", "3"],
    ]
    assert frame["text"][0] == "=1+1" and frame.columns[-1] == "=head"  # the page's own data is untouched


def test_slugify_makes_file_names():
    assert slugify("Loss per epoch (train)") == "loss-per-epoch-train"
    assert slugify("‖δˡ‖ per layer") == "l-per-layer"
    assert (
        slugify("x₁ against x₂") == "x1-against-x2" and slugify("δ") == "chart" and slugify("", fallback="run") == "run"
    )


def test_view_link_puts_the_configuration_after_the_page_address():
    query = {"dataset": "moons", "depth": ["3"], "note": "a b&c"}
    assert view_link("http://lab:8501/playground", query) == (
        "http://lab:8501/playground?dataset=moons&depth=3&note=a+b%26c"
    )
    assert (
        view_link("http://lab:8501/playground?old=1", {"tag": ["x", "y"]}) == "http://lab:8501/playground?tag=x&tag=y"
    )
    assert view_link(None, {"dataset": "spiral"}) == "?dataset=spiral"


# ---- runs ----


@pytest.fixture(scope="module")
def trainer():
    data = load_dataset("moons", n_samples=200, seed=3)
    t = Trainer(
        data,
        TrainConfig(
            hidden_dims=(6,), activation="tanh", lr=0.3, batch_size=32, epochs=3, dtype="float64", batch_norm=True
        ),
    )
    for _ in t.epochs():
        pass
    return t


def test_run_zip_reads_back_as_what_save_run_writes(trainer, tmp_path):
    raw = run_zip(trainer)
    run = read_run("run.zip", raw)
    best = trainer.best["weights"]
    assert set(run.weights) == set(best) and all(np.array_equal(run.weights[k], best[k]) for k in best)
    expected = trainer.test_metrics()  # the numbers the command line writes into metrics.json
    for name, value in expected.items():
        assert run.metrics[name] == pytest.approx(value, abs=1e-12), name
    assert run.metrics["dataset"] == "moons" and run.metrics["config"] == trainer.config.to_dict()
    pd.testing.assert_frame_equal(run.history, trainer.history())
    assert run.widths == [2, 6, 2]

    zipfile.ZipFile(io.BytesIO(raw)).extractall(tmp_path)  # core's loader reads the same files
    weights, metrics, history = load_run(tmp_path)
    assert all(np.array_equal(weights[k], best[k]) for k in best) and metrics == run.metrics
    assert len(history) == 4 * trainer.epoch


def test_run_files_leave_the_training_model_alone(trainer):
    before = trainer.weights()
    run_files(trainer)
    after = trainer.weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_weights_npz_alone_reads_back(trainer):
    run = read_run("weights.npz", weights_npz(trainer.best["weights"]))
    assert run.metrics is None and run.history is None
    assert np.array_equal(run.weights["W1"], trainer.best["weights"]["W1"])


def npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def zipped(**files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name.replace("_", "."), content)
    return buffer.getvalue()


def forged_header():
    """A 2×2 W1 whose header claims 10⁹ × 10⁹ values."""
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 10**9)})
    return zipped(W1_npy=raw.getvalue() + np.zeros(4).tobytes())


GOOD = {"W1": np.ones((3, 2)), "b1": np.zeros(3), "W2": np.ones((2, 3)), "b2": np.zeros(2)}
BAD_FILES = {
    "pickled object": (npz(W1=np.array([{"x": 1}], dtype=object), b1=np.zeros(1)), "pickled"),
    "not a zip": (b"hello, this is text", "not a .zip or .npz"),
    "truncated": (npz(**GOOD)[:-40], "not a .zip or .npz"),
    "foreign arrays": (npz(images=np.zeros((2, 2))), "unexpected arrays ['images']"),
    "strings": (npz(W1=np.array([["a", "b"]]), b1=np.zeros(1)), "not real numbers"),
    "not finite": (npz(**{**GOOD, "W2": np.full((2, 3), np.nan)}), "NaN or infinite"),
    "vector for a matrix": (npz(**{**GOOD, "W1": np.ones(3)}), "expected a matrix"),
    "shapes do not chain": (npz(**{**GOOD, "W2": np.ones((2, 4))}), "does not describe one MLP"),
    "missing bias": (npz(W1=GOOD["W1"], W2=GOOD["W2"], b2=GOOD["b2"]), "missing ['b1']"),
    "forged header": (forged_header(), "declares more data"),
    "zip of other files": (zipped(notes_txt=b"hi"), "not a saved run"),
    "incomplete run": (zipped(weights_npz=npz(**GOOD)), "metrics.json, history.csv missing"),
    "bad metrics": (
        zipped(weights_npz=npz(**GOOD), metrics_json=b"[1]", history_csv=b"epoch,split,metric,value\n"),
        "object of named values",
    ),
    "bad history": (zipped(weights_npz=npz(**GOOD), metrics_json=b"{}", history_csv=b"a,b\n1,2\n"), "columns epoch"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_refused_with_one_line(case):
    raw, fragment = BAD_FILES[case]
    with pytest.raises(RunFileError) as e:
        read_run("upload.zip", raw)
    assert fragment in str(e.value) and "\n" not in str(e.value) and "upload.zip" in str(e.value)


def test_the_good_file_of_those_cases_is_accepted():
    run = read_run("ok.npz", npz(**GOOD))
    assert run.widths == [2, 3, 2] and run.weights["W1"].dtype == np.float64
    raw = zipped(
        weights_npz=npz(**GOOD),
        metrics_json=json.dumps({"a": 1}).encode(),
        history_csv=b"epoch,split,metric,value\n1,train,loss,0.5\n",
    )
    assert read_run("ok.zip", raw).metrics == {"a": 1}
