"""Comment Markdown to safe HTML: markdown-it-py with raw HTML off (a `<script>` stays text), then
nh3 keeps only the tags below, http(s)/mailto links, and gives every link rel="nofollow noopener".
Images are left out (no tracking pixels in a discussion)."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")

TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip


def render(text: str) -> str:
    return nh3.clean(
        _md.render(text),
        tags=TAGS,
        attributes={"a": {"href", "title"}, "ol": {"start"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener",
        strip_comments=True,
    )
