"""portal.urlindex: the API's indexed resolver answers every path exactly as Django's resolver over
the same patterns does (the same view, arguments, route and names, or the same 404 with the same
list of tried patterns), and the whole site resolves an API path to the same view as before."""

from __future__ import annotations

import re

import pytest
from django.urls import Resolver404, resolve
from django.urls.resolvers import URLResolver

from portal import urls
from portal.urlindex import IndexedURLResolver, literal_end, literal_start, path_key

INDEXED = urls.urlpatterns[0]
PLAIN = URLResolver(
    INDEXED.pattern,
    list(INDEXED.url_patterns),
    INDEXED.default_kwargs,
    app_name=INDEXED.app_name,
    namespace=INDEXED.namespace,
)
# Values for a route's converters: an id, a word, an address, an empty one and one with a slash.
FILLS = ("5", "bench", "0x" + "ab" * 20, "", "a/b", "-1", "%20")


def _paths() -> list[str]:
    routes = [str(p.pattern) for p in INDEXED.url_patterns]
    paths = {"", "api/", "api/v1", "api/v1/", "auth/", "auth/me/", "api/v1/nothing", "api/v1/proposals/"}
    for route in routes:
        for fill in FILLS:
            path = re.sub(r"<[^>]*>", fill, route)
            paths.update({path, path + "/", path + "/x", path[:-1], "x" + path, path.replace("api/v1/", "api/v2/")})
    return sorted(paths)


def _answer(resolver: URLResolver, path: str) -> tuple:
    try:
        m = resolver.resolve(path)
    except Resolver404 as e:
        tried = [[str(p.pattern) for p in group] for group in e.args[0].get("tried", [])]
        return ("404", e.args[0].get("path"), tried)
    return (m.func, m.args, m.kwargs, m.route, m.url_name, m.app_names, m.namespaces, m.captured_kwargs)


def test_the_api_resolver_is_indexed() -> None:
    assert isinstance(INDEXED, IndexedURLResolver)
    assert len(INDEXED.url_patterns) > 50


def test_indexed_resolution_equals_djangos() -> None:
    paths = _paths()
    assert len(paths) > 1000
    assert [p for p in paths if _answer(INDEXED, p) != _answer(PLAIN, p)] == []


def test_the_battery_resolves_most_operations() -> None:
    # The comparison above means something only if most of the paths do resolve.
    resolved = {_answer(PLAIN, p)[3] for p in _paths() if _answer(PLAIN, p)[0] != "404"}
    assert len(resolved) >= len({str(p.pattern) for p in INDEXED.url_patterns}) * 3 // 4


def test_the_site_resolves_the_vote_operation() -> None:
    match = resolve("/api/v1/proposals/7/votes")
    assert match.kwargs == {"proposal_id": "7"}
    assert match.route.endswith("api/v1/proposals/<proposal_id>/votes")
    with pytest.raises(Resolver404):
        resolve("/api/v1/proposals/7/votes/")


def test_helpers() -> None:
    assert path_key("api/v1/proposals/5/votes") == "api/v1/proposals/"
    assert path_key("api/v1/idaos") == "api/v1/idaos"
    proposal = next(p for p in INDEXED.url_patterns if str(p.pattern) == "api/v1/proposals/<proposal_id>/votes")
    assert literal_start(proposal) == "api/v1/proposals/"
    assert literal_end(proposal) == "/votes"


def test_a_remembered_match_answers_as_the_first_and_the_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from portal import urlindex

    resolver = IndexedURLResolver(
        INDEXED.pattern, list(INDEXED.url_patterns), app_name=INDEXED.app_name, namespace=INDEXED.namespace
    )
    monkeypatch.setattr(urlindex, "_MATCHES_MAX", 3)
    paths = [f"api/v1/proposals/{i}/votes" for i in range(1, 8)]
    for path in paths * 2:  # the second round answers from the table (or after it was emptied)
        assert _answer(resolver, path) == _answer(PLAIN, path)
    assert resolver._matches is not None and 0 < len(resolver._matches) <= 3
    # A 404 is not remembered, and answers with the full list every time.
    for _ in range(2):
        assert _answer(resolver, "api/v1/proposals/7/votes/") == _answer(PLAIN, "api/v1/proposals/7/votes/")
    assert "api/v1/proposals/7/votes/" not in resolver._matches
    # The site's match is built anew around the remembered one: changing it changes nothing after.
    first = resolve("/api/v1/proposals/9/votes")
    first.kwargs["proposal_id"] = "10"
    assert resolve("/api/v1/proposals/9/votes").kwargs == {"proposal_id": "9"}
