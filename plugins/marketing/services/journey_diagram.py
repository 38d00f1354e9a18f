"""A journey's steps as SVG, drawn on the server (no JavaScript): one box per step in their order, an arrow to
the next step (straight down when it is the next box, arcing on the right otherwise), labelled with the branch
(yes, no, a random split's label and share). Every name is escaped."""
from __future__ import annotations

from typing import Any

from markupsafe import escape

from crmcore.i18n import gettext

BOX_W, BOX_H, GAP, LEFT, TOP = 260, 44, 36, 20, 20


def render_svg(title: str, steps: list[Any], branches: dict[int, list[Any]], kinds: dict[str, Any],
               counts: dict[int, int] | None = None) -> str:
    """The SVG document of ``steps`` (in order) with their ``branches``; ``kinds`` labels the step kinds and
    ``counts`` (optional) says how many customers are at each step now."""
    index = {s.id: i for i, s in enumerate(steps)}
    edges: list[tuple[int, int, str]] = []
    for s in steps:
        if s.kind == "condition":
            yes, no = gettext("Yes"), gettext("No")
            edges += [(index[s.id], index[t], label) for t, label in ((s.next_step_id, yes), (s.else_step_id, no))
                      if t in index]
        elif s.kind == "random":
            edges += [(index[s.id], index[b.next_step_id], f"{b.label} {b.share}%") for b in branches.get(s.id, [])
                      if b.next_step_id in index]
        elif s.next_step_id in index:
            edges.append((index[s.id], index[s.next_step_id], ""))
    far = [e for e in edges if e[1] != e[0] + 1]
    width = LEFT + BOX_W + 60 + 40 * len(far) + 80
    height = TOP * 2 + max(1, len(steps)) * (BOX_H + GAP)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif" font-size="12" role="img" aria-label="{escape(title)}" class="journey-diagram">',
           '<defs><marker id="jarrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f'<title>{escape(title)}</title>']

    def top(i: int) -> int:
        return TOP + i * (BOX_H + GAP)

    for i, s in enumerate(steps):
        fill = "#fdf2e9" if s.kind == "goal" else "#eef4fb" if s.kind in ("condition", "random") else "#f7f7f7"
        out.append(f'<g class="journey-step" data-step="{s.id}"><rect x="{LEFT}" y="{top(i)}" width="{BOX_W}" '
                   f'height="{BOX_H}" rx="6" fill="{fill}" stroke="#888"/>'
                   f'<text x="{LEFT + 10}" y="{top(i) + 18}" font-weight="bold">{escape(s.name)}</text>'
                   f'<text x="{LEFT + 10}" y="{top(i) + 35}" fill="#555">{escape(str(kinds.get(s.kind, s.kind)))}'
                   + (f' · {escape(gettext("now here"))} {counts[s.id]}' if counts and counts.get(s.id) else "")
                   + '</text></g>')
    lane = 0
    for a, b, label in edges:
        x_mid = LEFT + BOX_W // 2
        if b == a + 1:
            out.append(f'<line x1="{x_mid}" y1="{top(a) + BOX_H}" x2="{x_mid}" y2="{top(b)}" stroke="#555" '
                       f'marker-end="url(#jarrow)"/>')
            if label:
                out.append(f'<text x="{x_mid + 6}" y="{top(a) + BOX_H + GAP // 2 + 4}" fill="#333">{escape(label)}</text>')
            continue
        lane += 1
        x_out = LEFT + BOX_W + 20 + 40 * lane
        y1, y2 = top(a) + BOX_H // 2, top(b) + BOX_H // 2
        out.append(f'<path d="M{LEFT + BOX_W},{y1} H{x_out} V{y2} H{LEFT + BOX_W}" fill="none" stroke="#555" '
                   f'marker-end="url(#jarrow)"/>')
        if label:
            out.append(f'<text x="{x_out + 4}" y="{(y1 + y2) // 2}" fill="#333">{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)
