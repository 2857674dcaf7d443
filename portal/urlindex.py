"""A URL resolver that tries, for each path, only the patterns that can match it.

Django resolves a path by trying every pattern of a resolver in order. The JSON API has about a
hundred (one per django-ninja path), so an operation listed late paid dozens of failed matches on
every call: `POST /api/v1/proposals/{id}/votes` is the 33rd, about 0.3M CPU instructions of URL
resolution per vote (three quarters of a bare request's resolution cost more than necessary).

`IndexedURLResolver` groups the patterns by the start of the path they need. A `path()` route
matches literally up to its first `<converter>`, and only at the start of the path, so a path that
does not start with that literal text cannot match it. For the key of a path (its text up to and
including its third `/`), the resolver keeps the patterns whose literal start is compatible with the
key, in their original order; a `path()` route also matches only paths ending with its text after
its last converter (".../votes"), so of those, the path is tried against the ones whose literal end
it has, in a resolver of their own (Django's resolve, unchanged): the first of them to match is
the first of all the patterns to match. Patterns that are not `path()` routes are
kept in every group. A path whose key no group has, and a path no candidate matches, go through the
full list as before, so 404s (and their `tried` list) are unchanged. Reversing uses the full list.

A path that resolved is remembered with its match (a bounded table, emptied when full): the API's
hot paths are a few (a proposal's votes while it is open), and resolving one again through its
group still cost about 0.07M instructions per call. The match is never handed out as it is: the
resolver above this one (the URLconf's root) builds a new ResolverMatch from its fields, copying
its kwargs, so a request cannot change what the next one gets.
"""

from __future__ import annotations

from typing import Any

from django.urls.exceptions import Resolver404
from django.urls.resolvers import ResolverMatch, RoutePattern, URLResolver

_KEY_SLASHES = 3
# Resolved paths remembered per resolver; past this many the table starts again empty, so a
# client sending endless distinct paths (proposal ids) costs memory for this many at most.
_MATCHES_MAX = 1024


def path_key(path: str) -> str:
    """The path up to and including its third `/` (the whole path when it has fewer)."""
    end = -1
    for _ in range(_KEY_SLASHES):
        end = path.find("/", end + 1)
        if end < 0:
            return path
    return path[: end + 1]


def literal_start(pattern: Any) -> str:
    """The text every path a pattern matches starts with ("" when unknown)."""
    route = getattr(pattern, "pattern", None)
    if not isinstance(route, RoutePattern):
        return ""
    text = str(route)  # the route as written
    cut = text.find("<")
    return text if cut < 0 else text[:cut]


def literal_end(pattern: Any) -> str:
    """The text every path a pattern matches ends with ("" when unknown): the route after its
    last converter, for a view's `path()` (matched to the end of the path)."""
    route = getattr(pattern, "pattern", None)
    if not isinstance(route, RoutePattern) or not getattr(route, "_is_endpoint", False):
        return ""
    text = str(route)
    return text[text.rfind(">") + 1 :]


class _Group:
    """The patterns whose literal start fits one path key, with the literal ends they need."""

    def __init__(self, owner: URLResolver, patterns: list[tuple[Any, str]]) -> None:
        self.owner = owner
        self.patterns = patterns
        self.ends = tuple({end for _, end in patterns if end})
        # A resolver per set of ends a path has (a few per group, all from the patterns' text).
        self.resolvers: dict[frozenset[str], URLResolver] = {}

    def resolver(self, path: str) -> URLResolver:
        ends = frozenset([end for end in self.ends if path.endswith(end)])
        found = self.resolvers.get(ends)
        if found is None:
            owner = self.owner
            found = self.resolvers[ends] = URLResolver(
                owner.pattern,
                [p for p, end in self.patterns if not end or end in ends],
                owner.default_kwargs,
                app_name=owner.app_name,
                namespace=owner.namespace,
            )
        return found


class IndexedURLResolver(URLResolver):
    """URLResolver resolving through the group of patterns a path's key allows (see the module
    docstring); the key is taken from the path its own pattern leaves to its patterns."""

    _groups: dict[str, _Group] | None = None
    _matches: dict[str, ResolverMatch] | None = None

    def _build_groups(self) -> dict[str, _Group]:
        patterns = list(self.url_patterns)
        starts = [literal_start(p) for p in patterns]
        groups = {}
        for key in {path_key(s) for s in starts if s}:
            chosen = [
                (p, literal_end(p))
                for p, s in zip(patterns, starts, strict=True)
                if key.startswith(s) or s.startswith(key)
            ]
            groups[key] = _Group(self, chosen)
        return groups

    def resolve(self, path: Any) -> ResolverMatch:
        groups = self._groups
        if groups is None:
            groups = self._groups = self._build_groups()
        text = str(path)
        matches = self._matches
        if matches is None:
            matches = self._matches = {}
        found = matches.get(text)
        if found is not None:
            return found
        match = self.pattern.match(text)
        if match:
            inner = match[0]  # what the inner patterns see
            group = groups.get(path_key(inner))
            if group is not None:
                try:
                    found = group.resolver(inner).resolve(text)
                except Resolver404:
                    pass  # the full list decides, and reports every pattern it tried
                else:
                    if len(matches) >= _MATCHES_MAX:
                        matches.clear()
                    matches[text] = found
                    return found
        return super().resolve(text)
