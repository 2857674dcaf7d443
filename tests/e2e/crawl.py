"""A small breadth-first crawler over the Django test client: it follows same-origin <a href> and
hx-get links from a set of seed pages and records what each page answered and what was wrong with it."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

from django.test import Client

# Links a crawler must not follow: they end the session, stream files, or are the admin's
# destructive confirmations (still GETs, but they multiply the page count for nothing).
SKIP_SUFFIXES = (".csv", "/file", "/logout", "/delete/", "/history/")
SKIP_PREFIXES = ("/logout", "/static/", "/media/", "/admin/logout", "/admin/jsi18n")
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json", "importmap"}
ERROR_MARKERS = (
    "Traceback (most recent call last)",
    "Something went wrong on our side",
    "Server Error (500)",
    "TemplateSyntaxError",
    "NoReverseMatch",
    "VariableDoesNotExist",
)
EVENT_HANDLER_ATTRS = {"onclick", "onload", "onsubmit", "onchange", "oninput", "onerror", "onmouseover"}


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.fragments: list[str] = []
        self.problems: list[str] = []
        self.forms: list[dict] = []  # {"method", "action", "fields": {name: value}}
        self._in_inline_script = False
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "method": (attributes.get("method") or "get").lower(),
                    "action": attributes.get("action") or "",
                    "fields": {},
                }
            )
        if tag in ("input", "select", "textarea", "button") and self.forms and attributes.get("name"):
            self.forms[-1]["fields"].setdefault(attributes["name"], attributes.get("value") or "")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if attributes.get("hx-get"):
            self.fragments.append(attributes["hx-get"])
        if "style" in attributes:
            self.problems.append(f"inline style attribute on <{tag}> (CSP style-src 'self' blocks it)")
        for name in EVENT_HANDLER_ATTRS & set(attributes):
            self.problems.append(f"inline event handler {name} on <{tag}>")
        if tag == "style":
            self.problems.append("inline <style> element (CSP style-src 'self' blocks it)")
        if tag == "script":
            kind = (attributes.get("type") or "").lower()
            if not attributes.get("src") and kind not in DATA_SCRIPT_TYPES:
                self._in_inline_script = True
                self._script_text = []
            src = attributes.get("src") or ""
            if src.startswith(("http://", "https://", "//")):
                self.problems.append(f"script from another origin: {src}")
        if tag == "link" and (attributes.get("href") or "").startswith(("http://", "https://", "//")):
            self.problems.append(f"stylesheet or icon from another origin: {attributes['href']}")

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self._script_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_inline_script:
            self._in_inline_script = False
            text = "".join(self._script_text).strip()
            if text:
                self.problems.append(f"inline <script> content: {text[:80]!r}")


@dataclass
class Visit:
    url: str
    status: int
    content_type: str
    source: str  # the page that linked here ("seed" for seeds)
    location: str = ""  # where a redirect points
    problems: list[str] = field(default_factory=list)


@dataclass
class CrawlResult:
    visits: dict[str, Visit] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return [f"{v.url} (linked from {v.source}): {p}" for v in self.visits.values() for p in v.problems]

    def statuses(self) -> dict[str, int]:
        return {url: v.status for url, v in self.visits.items()}


def _normalise(href: str, base: str) -> str | None:
    href = href.strip()
    if not href or href.startswith(("mailto:", "javascript:", "tel:", "data:", "#")):
        return None
    absolute = urldefrag(urljoin("http://testserver" + base, href))[0]
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or parts.netloc != "testserver":
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _skipped(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith(SKIP_PREFIXES) or path.endswith(SKIP_SUFFIXES)


def _is_json_url(url: str) -> bool:
    path = urlsplit(url).path
    return path.endswith(".json") or (path.startswith("/api/") and not path.startswith("/api/v1/docs"))


def forms_of(body: str) -> list[dict]:
    parser = _PageParser()
    parser.feed(body)
    return parser.forms


def check_response(url: str, response, *, fragment: bool = False) -> tuple[list[str], list[str], list[str]]:
    """(problems, links, htmx fragment urls) of one answer."""
    problems: list[str] = []
    content_type = response.get("Content-Type", "")
    body = response.content.decode("utf-8", errors="replace") if not getattr(response, "streaming", False) else ""
    if response.status_code >= 500:
        problems.append(f"answered {response.status_code}")
    if _is_json_url(url) or "json" in content_type:
        if "application/json" not in content_type:
            problems.append(f"JSON endpoint answered {content_type!r}")
        else:
            try:
                json.loads(body)
            except ValueError as exc:
                problems.append(f"JSON endpoint answered unparsable JSON: {exc}")
        return problems, [], []
    if "text/html" not in content_type:
        return problems, [], []
    for marker in ERROR_MARKERS:
        if marker in body:
            problems.append(f"error page marker {marker!r}")
    if response.status_code == 200 and not fragment and "Content-Security-Policy" not in response:
        problems.append("no Content-Security-Policy header")
    if fragment and "<html" in body.lower():
        problems.append("htmx fragment answered a whole page")
    parser = _PageParser()
    parser.feed(body)
    problems.extend(parser.problems)
    return problems, parser.links, parser.fragments


def crawl(
    client: Client, seeds: list[str], *, limit: int = 300, per_path_variants: int = 3, admin_depth: int = 1
) -> CrawlResult:
    """Breadth-first from seeds over same-origin links, at most `limit` pages; a path is visited with
    at most `per_path_variants` different query strings; admin pages are followed `admin_depth` deep."""
    result = CrawlResult()
    queue: deque[tuple[str, str, int, bool]] = deque((seed, "seed", 0, False) for seed in seeds)
    seen: set[tuple[str, bool]] = {(seed, False) for seed in seeds}  # a URL as a page and as an htmx fragment
    variants: dict[str, int] = {}
    while queue and len(result.visits) < limit:
        url, source, depth, fragment = queue.popleft()
        path = urlsplit(url).path
        headers = {"HX-Request": "true"} if fragment else {}
        response = client.get(url, headers=headers)
        problems, links, fragments = check_response(url, response, fragment=fragment)
        if response.status_code in (301, 302, 303, 307, 308):
            target = _normalise(response["Location"], path)
            links = [target] if target else []
        result.visits[url + (" [htmx]" if fragment else "")] = Visit(
            url,
            response.status_code,
            response.get("Content-Type", ""),
            source,
            problems=problems,
            location=response.get("Location", ""),
        )
        if path.startswith("/admin/") and depth >= admin_depth:
            continue
        candidates = [(href, False) for href in links] + [(href, True) for href in fragments]
        for href, is_fragment in candidates:
            target = _normalise(href, path) if href else None
            if target is None or (target, is_fragment) in seen or _skipped(target):
                continue
            target_path = urlsplit(target).path
            if "?" in target:
                if variants.get(target_path, 0) >= per_path_variants:
                    continue
                variants[target_path] = variants.get(target_path, 0) + 1
            seen.add((target, is_fragment))
            queue.append((target, url, depth + 1 if target_path.startswith("/admin/") else depth, is_fragment))
    return result
