"""The lineage graph: which DATs a DAT was derived from (ancestors) and which were derived from it
(descendants), the no-cycle check, and a server-side SVG drawing (no script, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.html import escape

from portal.errors import DomainError

from .models import DAT, DatParent

MAX_DEPTH = 6
MAX_NODES = 80


class UnknownParent(DomainError):
    code = "unknown_parent"
    status = 422


class LineageCycle(DomainError):
    code = "lineage_cycle"
    status = 422


def clean_parent_ids(raw: object) -> list[int]:
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = [p.strip().removeprefix("dat:").removeprefix("#") for p in raw.split(",") if p.strip()]
    if not isinstance(raw, list | tuple):
        raise UnknownParent("parents is a list of DAT token ids.")
    ids: list[int] = []
    for item in raw:
        try:
            value = int(str(item).removeprefix("dat:"))
        except ValueError:
            raise UnknownParent(f"“{str(item)[:40]}” is not a DAT token id.") from None
        if value <= 0:
            raise UnknownParent(f"{value} is not a DAT token id.")
        if value not in ids:
            ids.append(value)
    if len(ids) > 50:
        raise UnknownParent("A DAT names at most 50 parents.")
    return sorted(ids)


def check_parents(parent_ids: list[int], *, child_id: int | None = None) -> None:
    """Every parent exists, and (for an existing child) none of them descends from the child."""
    found = set(DAT.objects.filter(pk__in=parent_ids).values_list("pk", flat=True))
    missing = [p for p in parent_ids if p not in found]
    if missing:
        raise UnknownParent(f"There is no DAT {', '.join(f'#{m}' for m in missing)}; a parent must already exist.")
    if child_id is None:
        return
    if child_id in parent_ids:
        raise LineageCycle(f"DAT #{child_id} cannot be its own parent.")
    seen: set[int] = set(parent_ids)
    frontier = set(parent_ids)
    while frontier:
        rows = list(DatParent.objects.filter(child_id__in=frontier).values_list("parent_id", flat=True))
        if child_id in rows:
            raise LineageCycle(f"DAT #{child_id} is already an ancestor of the named parents; that would make a cycle.")
        frontier = set(rows) - seen
        seen |= frontier


@dataclass
class Graph:
    focus: int
    nodes: dict[int, DAT] = field(default_factory=dict)
    depth: dict[int, int] = field(default_factory=dict)  # negative: ancestors, positive: descendants
    edges: set[tuple[int, int]] = field(default_factory=set)  # (parent, child)
    truncated: bool = False

    @property
    def ancestors(self) -> list[DAT]:
        return [self.nodes[i] for i in sorted(self.nodes) if self.depth[i] < 0]

    @property
    def descendants(self) -> list[DAT]:
        return [self.nodes[i] for i in sorted(self.nodes) if self.depth[i] > 0]


def _walk(graph: Graph, *, up: bool) -> None:
    frontier, step = {graph.focus}, -1 if up else 1
    for level in range(1, MAX_DEPTH + 1):
        if not frontier:
            return
        if up:
            rows = DatParent.objects.filter(child_id__in=frontier).values_list("parent_id", "child_id")
        else:
            rows = DatParent.objects.filter(parent_id__in=frontier).values_list("parent_id", "child_id")
        nxt: set[int] = set()
        for parent, child in rows:
            other = parent if up else child
            if other not in graph.depth:
                if len(graph.depth) >= MAX_NODES:
                    graph.truncated = True
                    continue
                graph.depth[other] = step * level
                nxt.add(other)
            graph.edges.add((parent, child))
        frontier = nxt
    if frontier:
        graph.truncated = True


def lineage_graph(dat: DAT) -> Graph:
    """Ancestors and descendants up to MAX_DEPTH generations (MAX_NODES in all); one query per
    generation plus one for the nodes."""
    graph = Graph(focus=dat.pk, depth={dat.pk: 0})
    _walk(graph, up=True)
    _walk(graph, up=False)
    others = [i for i in graph.depth if i != dat.pk]
    graph.nodes = {dat.pk: dat, **{d.pk: d for d in DAT.objects.filter(pk__in=others).select_related("idao")}}
    graph.edges = {(p, c) for p, c in graph.edges if p in graph.nodes and c in graph.nodes}
    return graph


BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 170, 44, 24, 46, 12


def render_svg(graph: Graph) -> str:
    """Generations top to bottom (oldest ancestors first), each a row of linked boxes; edges run
    from parent to child. Pure string building with every text escaped."""
    rows: dict[int, list[int]] = {}
    for node, depth in graph.depth.items():
        if node in graph.nodes:
            rows.setdefault(depth, []).append(node)
    levels = sorted(rows)
    widest = max(len(r) for r in rows.values())
    width = PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X
    height = PAD * 2 + len(levels) * BOX_H + (len(levels) - 1) * GAP_Y
    pos: dict[int, tuple[int, int]] = {}
    for y_index, level in enumerate(levels):
        row = sorted(rows[level])
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        x0 = (width - row_width) // 2
        for x_index, node in enumerate(row):
            pos[node] = (x0 + x_index * (BOX_W + GAP_X), PAD + y_index * (BOX_H + GAP_Y))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="group" aria-label="Lineage of DAT #{graph.focus}">',
        "<title>"
        + escape(
            f"Lineage of DAT #{graph.focus}: {len(graph.ancestors)} ancestor(s), {len(graph.descendants)} descendant(s)"
        )
        + "</title>",
    ]
    for parent, child in sorted(graph.edges):
        (px, py), (cx, cy) = pos[parent], pos[child]
        out.append(
            f'<line class="edge" x1="{px + BOX_W // 2}" y1="{py + BOX_H}" x2="{cx + BOX_W // 2}" y2="{cy}" '
            'stroke="#8a94a6" stroke-width="1.5"/>'
        )
    for node, (x, y) in sorted(pos.items()):
        dat = graph.nodes[node]
        focus = node == graph.focus
        title = dat.title if len(dat.title) <= 22 else dat.title[:21] + "…"
        out.append(
            f'<a href="/dats/{node}/"><g class="node{" focus" if focus else ""}" data-dat="{node}">'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{"#1f4fd1" if focus else "#f4f6fb"}" stroke="#1f4fd1"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-size="12" fill="{"#fff" if focus else "#111"}">'
            f"#{node} · {escape(dat.klass)}</text>"
            f'<text x="{x + 8}" y="{y + 35}" font-size="11" fill="{"#fff" if focus else "#333"}">{escape(title)}</text>'
            "</g></a>"
        )
    out.append("</svg>")
    return "".join(out)
