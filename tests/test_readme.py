"""The README stays true: every app link it gives opens an existing view with a preset that parses cleanly,
and every screenshot it shows is one the browser test takes."""

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from app.views import VIEWS
from core.links import from_query
from tests.test_browser import PAGES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
LINKS = re.findall(r"`(/[a-z-]+(?:\?[^`\s]*)?)`", README)


def test_every_app_link_in_the_readme_opens_a_view_with_a_clean_preset():
    assert len(LINKS) >= 12  # the lecture plan and the examples
    paths = {v.url_path for v in VIEWS}
    for link in LINKS:
        parts = urlsplit(link)
        assert parts.path.strip("/") in paths, link
        _, notices = from_query(dict(parse_qsl(parts.query)))
        assert notices == [], (link, notices)


def test_every_screenshot_in_the_readme_is_taken_by_the_browser_test():
    shown = set(re.findall(r"docs/screenshots/([a-z_]+)\.png", README))
    taken = {name for _, name, _, _ in PAGES}
    assert shown and shown <= taken, shown - taken
    assert all((Path(__file__).resolve().parents[1] / "docs" / "screenshots" / f"{n}.png").exists() for n in shown)
