"""A picture of a workflow's state machine as SVG, drawn on the server (no JavaScript, no internet).

States sit on a row in their order; a transition to a later state arcs above the row, one to
an earlier state (or itself) below it, each labelled with its action (and "approval", in the reader's
language, when a policy guards it).
"""
from __future__ import annotations

from typing import Any

from markupsafe import escape  # quotes too: names land in attributes (aria-label) as well as text

from ..i18n import _

BOX_W, BOX_H, GAP, TOP = 130, 40, 60, 150


def render_svg(wf: Any) -> str:
    """The SVG document of ``wf`` (a ``WorkflowDefinition``)."""
    states = list(wf.states)
    index = {s.name: i for i, s in enumerate(states)}
    width = max(1, len(states)) * (BOX_W + GAP) + GAP
    height = TOP * 2 + BOX_H
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img" '
             f'aria-label="{escape(wf.name)}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
             f'<title>{escape(wf.name)}</title>']

    def centre(i: int) -> float:
        return GAP + i * (BOX_W + GAP) + BOX_W / 2

    for k, tr in enumerate(wf.transitions):
        sources = range(len(states)) if tr.from_state == "*" else [index.get(tr.from_state)]
        target = index.get(tr.to_state)
        for src in sources:
            if src is None or target is None:
                continue
            x1, x2 = centre(src), centre(target)
            forward = target > src
            y = TOP if forward else TOP + BOX_H
            lift = 30 + 14 * abs(target - src) + 6 * (k % 3)
            cy = y - lift if forward else y + lift
            if src == target:
                x1, x2 = x1 - 20, x1 + 20
            label = tr.label or tr.action
            if tr.policy_id is not None:
                label = str(_("%(action)s (needs approval)", action=label))
            colour = "#b35900" if tr.policy_id is not None else "#555"
            parts.append(f'<path class="transition" d="M{x1:.0f},{y} Q{(x1 + x2) / 2:.0f},{cy:.0f} {x2:.0f},{y}" '
                         f'fill="none" stroke="{colour}" stroke-width="1.5" marker-end="url(#arrow)"/>')
            ty = (y + cy) / 2 + (-4 if forward else 12)
            parts.append(f'<text x="{(x1 + x2) / 2:.0f}" y="{ty:.0f}" text-anchor="middle" fill="{colour}">'
                         f'{escape(label)}</text>')
    for i, st in enumerate(states):
        x = GAP + i * (BOX_W + GAP)
        fill = "#e8f4ea" if st.initial else "#eef1f7"
        stroke_w = 3 if st.final else 1.5
        parts.append(f'<g class="state"><rect x="{x}" y="{TOP}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
                     f'stroke="#345" stroke-width="{stroke_w}"/>'
                     f'<text x="{x + BOX_W / 2:.0f}" y="{TOP + BOX_H / 2 + 4:.0f}" text-anchor="middle">'
                     f'{escape(st.label or st.name)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
