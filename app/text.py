"""User-provided text shown as text: uploaded file, column and class names, values quoted in errors, links.

Streamlit reads what ``st.caption``, ``st.error``, ``st.markdown``, ``st.metric``… are given as Markdown
(and ``:material/name:`` as an icon), so a class named ``[c](https://evil.example)`` would become a link
and ``**`` would vanish. Every such text goes through ``plain`` first. Pure Python (no streamlit).
"""

import unicodedata

MARKDOWN = "\\`*_{}[]()#+-.!|<>~$:&"  # characters that Markdown or HTML could read as syntax


def plain(text):
    """``text`` safe to show as Markdown: one line, every Markdown and HTML character escaped, and every
    invisible control or format character (e.g. a right-to-left override) shown as �."""
    return "".join(_plain(ch) for ch in " ".join(str(text).split()))


def _plain(ch):
    if ch == ":":  # Streamlit draws :material/name: and :streamlit: as icons even when escaped; a word joiner stops it
        return "\\:\u2060"
    return "\\" + ch if ch in MARKDOWN else "�" if unicodedata.category(ch)[0] == "C" else ch
