"""Hostile and malformed links on every page: the defaults, one notice per rejected value shown as plain text.

A link may carry anything: wrong types, values out of range, huge numbers, unknown names, script,
Markdown or LaTeX. Every page must open on the defaults, say which values it ignored (each one
readable as the very text of the link, never rendered as markup), and run without an exception.
"""

import re
import unicodedata
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.text import plain
from app.views import VIEWS
from core.links import DEFAULTS, MAX_TEXT, from_query
from tests.page_testing import ENTRYPOINT

HOSTILE = {  # one bad value for every setting a link can carry
    "dataset": "<script>alert(1)</script>",
    "n_samples": ":red[huge] :material/warning: :streamlit:",
    "noise": "inf",
    "depth": "1e9",
    "width": "-5",
    "activation": "**bold** _and_ `code`",
    "batch_norm": "yes",
    "optimizer": "[click](javascript:alert(1))",
    "lr": "nan",
    "batch_size": "9" * 400,
    "epochs": "2.5",
    "seed": "# 0x10",
    "backend": r"$\frac{1}{0}$",
    "dtype": "float16\u202e<img src=x onerror=alert(1)>",
}
UNKNOWN = {"present": "<b>2</b>", "utm_source": "mail", "<i>key</i>": "|a|b|"}
PAGES = [("../pages/home.py", "MLP Backprop Lab", "")] + [(v.path, v.title, v.url_path) for v in VIEWS]
ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation shows it as text


ICON = re.compile(r":(material/[a-z_0-9]+|streamlit):")  # Streamlit draws these as icons, escaped or not


def rendered(markdown):
    """What a reader sees of ``markdown`` that holds no syntax but backslash escapes (and invisible word joiners)."""
    return ESCAPED.sub(r"\1", markdown).replace("\u2060", "")


def shown_value(text):
    """The rejected value as a notice must show it: its first MAX_TEXT characters, "…" if cut, invisible
    characters as �, on one line."""
    cut = text[:MAX_TEXT] + ("…" if len(text) > MAX_TEXT else "")
    return "".join("�" if unicodedata.category(ch)[0] == "C" else ch for ch in " ".join(cut.split()))


def value_in(notice):
    """The value part of a notice "Ignored name=value from the link (…)" as the page shows it (Markdown source)."""
    return notice.split("=", 1)[1].split(r" from the link \(expected ")[0]


def assert_plain(markdown, value):
    """``markdown`` reads as exactly ``value`` (as a notice shows it) and holds no Markdown or HTML syntax."""
    assert rendered(markdown) == shown_value(value)
    assert not re.search(r"[\\`*_{}\[\]()#+\-.!|<>~$:&]", ESCAPED.sub("", markdown))  # every such character escaped
    assert not ICON.search(markdown.replace("\\", ""))  # and no icon code left whole


def open_link(path, url_path, query):
    """Open the page at ``path`` from a link carrying ``query``, as a student pasting it would.

    AppTest finds a page whose address differs from its file name (batch-norm, saddle-points) only
    after a first run: there the session opens Home first and then follows the link to the page.
    """
    at = AppTest.from_file(ENTRYPOINT, default_timeout=60)
    if url_path and url_path != Path(path).stem:
        at.run()
        assert not at.exception, at.exception
    for name, value in query.items():
        at.query_params[name] = value
    at.switch_page(path).run()
    return at


@pytest.mark.parametrize("path, title, url_path", PAGES, ids=[Path(p).stem for p, _, _ in PAGES])
def test_every_page_opens_on_the_defaults_and_names_each_rejected_value(path, title, url_path):
    at = open_link(path, url_path, HOSTILE | UNKNOWN)
    assert not at.exception, at.exception
    assert title.lower() in at.title[0].value.lower()  # the page itself, not Home in its place
    assert at.session_state["config"] == DEFAULTS
    notices = {
        n.value.split("=")[0].removeprefix("Ignored "): n.value for n in at.warning if "from the link" in n.value
    }
    assert set(notices) == {plain(name) for name in HOSTILE}  # one per rejected setting; unknown names are ignored
    for name, value in HOSTILE.items():
        default = getattr(DEFAULTS, name)
        notice = notices[plain(name)]  # shown as plain text: batch\_size
        assert notice.endswith(plain(f"; using {int(default) if isinstance(default, bool) else default}."))
        assert_plain(value_in(notice), value)
    assert dict(at.query_params) == {}  # the address now holds the defaults: nothing of the link is kept


def test_the_notice_text_holds_no_markup_whatever_the_value():
    nasty = [
        "<b>x</b>",
        "**x**",
        "[a](b)",
        ":blue[x]",
        "$x$",
        "`x`",
        "# h",
        "a\nb\tc",
        "x|y",
        "&lt;",
        "\\*",
        "~~s~~",
        "-1",
        "1.",
        "!",
        "+",
        "{}",
        "\u202eabc",
        "zero\u200bwidth",
        ":material/home:",
        ":streamlit:",
        "a\u2060b",
    ]
    for value in nasty:
        (notice,) = from_query({"activation": value})[1]
        assert_plain(value_in(plain(notice)), value)  # as the sidebar shows it


def test_a_long_value_is_read_whole_not_from_its_first_characters():
    value = "0.3" + "0" * 40 + "1xyz"  # its first 40 characters read as a valid learning rate
    config, (notice,) = from_query({"lr": value})
    assert config.lr == DEFAULTS.lr
    assert notice == f"Ignored lr={value[:MAX_TEXT]}… from the link (expected between 1e-05 and 10.0); using 0.3."


@pytest.mark.parametrize(
    "query, message",
    [
        ({"batch_size": "1", "batch_norm": "1"}, "batch norm needs a batch size of at least 2"),
        ({"dataset": "csv"}, "Upload a CSV file in the sidebar"),
    ],
)
def test_valid_settings_that_cannot_run_here_say_why_on_the_playground(query, message):
    at = open_link("../pages/playground.py", "playground", query)
    assert not at.exception, at.exception
    assert message in "\n".join(e.value for e in [*at.error, *at.info])
