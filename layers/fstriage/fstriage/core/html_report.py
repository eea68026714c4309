"""The report as one self-contained HTML page people can open (a phone included): headline, status,
continuity (`new`/`ongoing`/`gone` groups, the previous report), a timeline of the error groups, the
groups with links to their sessions' replays, the sessions and the notes.

The page fetches nothing: inline CSS, no script, no font, no image URL, and a Content-Security-Policy
(`default-src 'none'`) that makes a browser refuse any fetch a bug might still add. Links are plain
`<a href>` to replays, which people follow on purpose.

The timeline is inline SVG written here, not a charting library: a library would add a layer
dependency (size and cold start) to draw a few rectangles, most need a script or fetch their code or
fonts from a CDN (which the page must not do), and their output can vary between versions. Code that
writes the SVG gives the same bytes for the same report, which tests can compare.

Every piece of report text may come from a website visitor (console messages, click targets, names
people typed), so all of it is escaped, and emails are masked as in the Markdown (`redact.mask_email`).
A link is written only for an http(s) URL.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from fstriage.core.digest.text import clip
from fstriage.core.redact import mask_email
from fstriage.core.report import signals_text
from fstriage.core.request import parse_isoformat

# Track geometry, in the SVG's own units: each row's track is stretched to the page width.
TRACK_WIDTH: Final = 1000
TRACK_HEIGHT: Final = 22
MARK_MIN_WIDTH: Final = 6
SUMMARY_CHARS: Final = 600
EXAMPLE_CHARS: Final = 240
HEADLINE_TITLE_CHARS: Final = 120

_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STYLE: Final = """
:root{color-scheme:light;--ink:#1d232b;--muted:#5b6573;--line:#d9dee5;--bg:#f6f7f9;--new:#c2410c;
--ongoing:#4b5d78;--plain:#2563eb;--ok:#15803d;--warn:#b45309;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.3rem;line-height:1.3;margin:0 0 8px;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:0 0 8px}h3{font-size:.95rem;margin:12px 0 4px}
section,header{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px;
margin-bottom:12px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;
overflow-wrap:anywhere}
a{color:var(--plain)}
.meta{color:var(--muted);margin:4px 0;overflow-wrap:anywhere}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.8rem;font-weight:600;
color:#fff;background:var(--muted);vertical-align:middle}
.status-complete{background:var(--ok)}.status-partial{background:var(--warn)}
.status-failed{background:var(--bad)}
.mark-new{background:var(--new)}.mark-ongoing{background:var(--ongoing)}.mark-gone{background:#8b95a3}
.quiet{background:#64748b}
ol,ul{padding-left:20px;margin:6px 0}
li{margin:6px 0;overflow-wrap:anywhere}
.example{color:var(--muted)}
.tl-row{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,5fr);gap:8px;align-items:center;
padding:4px 0;border-top:1px solid var(--line)}
.tl-label{font-size:.85rem;overflow-wrap:anywhere}
.tl-track{display:block;width:100%;height:22px}
.tl-axis{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,5fr);gap:8px;color:var(--muted);
font-size:.75rem;border-top:1px solid var(--line);padding-top:4px}
.tl-ticks{display:flex;justify-content:space-between;gap:4px}
.tl-ticks span:last-child{text-align:right}
.tl-unknown{color:var(--muted);font-size:.75rem}
.new rect.hit{fill:var(--new)}.ongoing rect.hit{fill:var(--ongoing)}rect.hit{fill:var(--plain)}
rect.window{fill:#eef2f7}line.base{stroke:#c5ccd6}
.sessions li{list-style:disc}
@media (max-width:640px){main{padding:8px}.tl-row,.tl-axis{grid-template-columns:1fr}
.tl-axis>span:first-child{display:none}}
"""


def render_html(report: Mapping[str, Any], *, previous_url: str | None = None) -> str:
    """The report dict (schemas/report.schema.json) as one HTML document; `previous_url` links the
    previous report for the same subject (when continuity names one)."""
    replay = {
        session["session_id"]: session.get("replay_url")
        for session in report.get("sessions") or []
        if isinstance(session, Mapping) and session.get("session_id")
    }
    groups = [group for group in report.get("error_groups") or [] if isinstance(group, Mapping)]
    continuity = _map(report.get("continuity")) or None
    parts = [
        _header(report),
        _continuity(continuity, previous_url),
        _timeline(report, groups, replay),
        _groups(groups, replay, continuity),
        _sessions(report.get("sessions") or []),
        _notes(report),
    ]
    headline = mask_email(str(report.get("headline") or "fstriage report"))
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(clip(headline, HEADLINE_TITLE_CHARS))} · fstriage</title>"
        f"<style>{_STYLE}</style></head>\n<body><main>\n"
        + "\n".join(part for part in parts if part)
        + "\n</main></body></html>\n"
    )


# --- sections -----------------------------------------------------------------------------------


def _header(report: Mapping[str, Any]) -> str:
    status = str(report.get("status") or "unknown")
    trigger = _map(report.get("trigger"))
    window = _map(report.get("window"))
    cost = _map(report.get("cost"))
    quiet = ' <span class="badge quiet" id="quiet">quiet</span>' if report.get("quiet") is True else ""
    lines = [
        '<header id="summary">',
        f'<h1 id="headline">{_text(report.get("headline") or "fstriage report")}</h1>',
        f'<p class="meta"><span class="badge status-{_e(_token(status))}" id="status">{_e(status)}</span>'
        f"{quiet} · trigger <code>{_text(trigger.get('event_name') or trigger.get('kind') or '?')}</code>"
        f" at {_e(_when(trigger.get('occurred_at')))}</p>",
        f'<p class="meta">Window {_e(_when(window.get("start")))} → {_e(_when(window.get("end")))}'
        f" · generated {_e(_when(report.get('generated_at')))}</p>",
        f'<p class="meta">Fullstory: {_e(cost.get("fullstory_calls", "?"))} API calls, '
        f"{_e(cost.get('activations', '?'))} Activations"
        + (f", {_e(cost['fullstory_writes'])} events written" if cost.get("fullstory_writes") else "")
        + f" · <code>{_text(report.get('investigation_id') or '')}</code></p>",
    ]
    if trigger.get("text"):
        lines.append(f'<p class="meta">“{_text(clip(str(trigger["text"]), SUMMARY_CHARS))}”</p>')
    properties = trigger.get("properties")
    if isinstance(properties, Mapping) and properties:
        shown = " · ".join(
            f"{name} {json.dumps(value, ensure_ascii=False)}" for name, value in properties.items()
        )
        lines.append(f'<p class="meta">Properties: {_text(clip(shown, SUMMARY_CHARS))}</p>')
    if trigger.get("page_url"):
        lines.append(f'<p class="meta">Page: {_text(clip(str(trigger["page_url"]), EXAMPLE_CHARS))}</p>')
    segment = _map(trigger.get("segment")) or None
    if segment and (segment.get("name") or segment.get("id")):
        label = _text(segment.get("name") or segment.get("id"))
        lines.append(f'<p class="meta">Segment: {_link(segment.get("url"), label)}</p>')
    lines.append("</header>")
    return "\n".join(lines)


def _continuity(continuity: Mapping[str, Any] | None, previous_url: str | None) -> str:
    if continuity is None:
        return ""
    lines = ['<section id="continuity"><h2>Since the last report</h2>']
    previous = _map(continuity.get("previous")) or None
    horizon = continuity.get("horizon_days")
    if previous:
        name = f"<code>{_text(previous.get('investigation_id') or '?')}</code>"
        lines.append(
            f'<p id="previous">Previous report: {_link(previous_url, name)}'
            f" from {_e(_when(previous.get('generated_at')))}</p>"
        )
    else:
        within = f" in the last {_e(horizon)} days" if horizon else ""
        lines.append(f'<p id="previous">No earlier report for this subject{within}.</p>')
    new = [str(signature) for signature in continuity.get("new") or []]
    # Without a previous report every group is new: the count says it, the marks below show them.
    listed = ": " + ", ".join(f"<code>{_text(s)}</code>" for s in new) if new and previous else ""
    lines.append(f'<p id="new">{len(new)} new error group{"" if len(new) == 1 else "s"}{listed}</p>')
    gone = [item for item in continuity.get("gone") or [] if isinstance(item, Mapping)]
    if gone:
        lines.append(f'<h3>Gone since the last report ({len(gone)})</h3><ul id="gone">')
        lines += [
            f'<li class="gone"><span class="badge mark-gone">gone</span> '
            f"<code>{_text(item.get('signature') or '')}</code>, last seen {_e(_when(item.get('last_seen')))}"
            "</li>"
            for item in gone
        ]
        lines.append("</ul>")
    lines.append("</section>")
    return "\n".join(lines)


def _timeline(
    report: Mapping[str, Any],
    groups: list[Mapping[str, Any]],
    replay: Mapping[str, Any],
) -> str:
    if not groups:
        return '<section id="timeline"><h2>Timeline</h2><p>No error groups in this window.</p></section>'
    window = _map(report.get("window"))
    start, end = _instant(window.get("start")), _instant(window.get("end"))
    seen = [
        moment
        for group in groups
        for hit in _hits_of(group)
        for moment in (_instant(hit.get("first_seen")), _instant(hit.get("last_seen")))
        if moment is not None
    ]
    # The axis spans the window, widened to any hit outside it (a session that began before it).
    low = min([m for m in (start, *seen) if m is not None], default=None)
    high = max([m for m in (end, *seen) if m is not None], default=None)
    lines = [
        '<section id="timeline"><h2>Timeline</h2>',
        '<p class="meta">Each row is an error group; each mark, a session it hit, from the first to the '
        "last occurrence. A mark links to the session's replay.</p>",
        '<div class="tl" role="list">',
    ]
    for rank, group in enumerate(groups, start=1):
        lines.append(_timeline_row(rank, group, replay, axis=(low, high), window=(start, end)))
    lines.append("</div>")
    lines.append(
        f'<div class="tl-axis" aria-hidden="true"><span></span><div class="tl-ticks">'
        f"<span>{_e(_when(low))}</span><span>{_e(_when(_middle(low, high)))}</span>"
        f"<span>{_e(_when(high))}</span></div></div>"
    )
    lines.append("</section>")
    return "\n".join(lines)


def _timeline_row(
    rank: int,
    group: Mapping[str, Any],
    replay: Mapping[str, Any],
    *,
    axis: tuple[datetime | None, datetime | None],
    window: tuple[datetime | None, datetime | None],
) -> str:
    (low, high), (start, end) = axis, window
    state = _state(group)
    signature = str(group.get("signature") or "")
    sessions = [str(s) for s in group.get("sessions") or []]
    label_text = f"{_mark(state)}<code>{_text(signature)}</code>"
    label = _link(_first_url(sessions, replay), label_text, css="tl-link")
    shapes = [
        f'<line class="base" x1="0" y1="{TRACK_HEIGHT // 2}" x2="{TRACK_WIDTH}" y2="{TRACK_HEIGHT // 2}"'
        ' vector-effect="non-scaling-stroke"/>'
    ]
    if low is not None and high is not None and start is not None and end is not None:
        x1, x2 = _x(start, low, high), _x(end, low, high)
        if (x1, x2) != (0, TRACK_WIDTH):
            shapes.insert(
                0, f'<rect class="window" x="{x1}" y="0" width="{max(x2 - x1, 0)}" height="{TRACK_HEIGHT}"/>'
            )
    unplaced = 0
    for hit in _hits_of(group):
        first = _instant(hit.get("first_seen"))
        last = _instant(hit.get("last_seen")) or first
        if first is None or last is None or low is None or high is None:
            unplaced += 1
            continue
        x1, x2 = _x(first, low, high), _x(last, low, high)
        width = max(x2 - x1, MARK_MIN_WIDTH)
        x = min(x1, TRACK_WIDTH - width)
        session_id = str(hit.get("session_id") or "")
        title = (
            f"{session_id}: {hit.get('count', '?')}x from {_when(first)} to {_when(last)}"
            if last != first
            else f"{session_id}: {hit.get('count', '?')}x at {_when(first)}"
        )
        mark = (
            f'<rect class="hit" x="{x}" y="4" width="{width}" height="{TRACK_HEIGHT - 8}" rx="2">'
            f"<title>{_text(title)}</title></rect>"
        )
        url = _safe_url(replay.get(session_id))
        shapes.append(f'<a href="{_e(url)}" target="_blank" rel="noopener">{mark}</a>' if url else mark)
    # Sessions hit without a time (export rows): counted, not placed.
    unplaced += max(0, len(sessions) - len(_hits_of(group)))
    unknown = (
        f'<span class="tl-unknown"> +{unplaced} session{"" if unplaced == 1 else "s"} without a time</span>'
        if unplaced
        else ""
    )
    plural = "" if len(sessions) == 1 else "s"
    svg = (
        f'<svg class="tl-track" viewBox="0 0 {TRACK_WIDTH} {TRACK_HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-label="{_text(f"{signature}: {len(sessions)} session{plural}")}">'
        + "".join(shapes)
        + "</svg>"
    )
    return (
        f'<div class="tl-row {state or ""}" role="listitem" data-group="{rank}" '
        f'data-sessions="{len(sessions)}"><div class="tl-label">{label}{unknown}</div>{svg}</div>'
    )


def _groups(
    groups: list[Mapping[str, Any]],
    replay: Mapping[str, Any],
    continuity: Mapping[str, Any] | None,
) -> str:
    if not groups:
        return ""
    lines = [f'<section id="groups"><h2>Error groups ({len(groups)})</h2><ol>']
    for rank, group in enumerate(groups, start=1):
        state = _state(group)
        sessions = [str(s) for s in group.get("sessions") or []]
        plural = "" if len(sessions) == 1 else "s"
        since = ""
        if state == "ongoing" and group.get("ongoing_since"):
            since = f" since {_e(_when(group.get('ongoing_since')))}"
        links = ", ".join(_link(_safe_url(replay.get(s)), f"<code>{_text(s)}</code>") for s in sessions)
        example = clip(str(group.get("example") or ""), EXAMPLE_CHARS)
        example = f'<div class="example">e.g. <code>{_text(example)}</code></div>' if example else ""
        lines.append(
            f'<li class="group {state or ""}" id="group-{rank}">{_mark(state)}{since} '
            f"<code>{_text(group.get('signature') or '')}</code>: "
            f"{len(sessions)} session{plural}, {_e(group.get('count', '?'))}x, "
            f"first {_e(_when(group.get('first_seen')))}, last {_e(_when(group.get('last_seen')))}"
            f"{example}<div>Replays: {links or 'none'}</div></li>"
        )
    lines.append("</ol>")
    if continuity is not None and not any(_state(g) == "new" for g in groups):
        lines.append('<p class="meta">Nothing new since the last report.</p>')
    lines.append("</section>")
    return "\n".join(lines)


def _sessions(sessions: Iterable[Any]) -> str:
    items = [session for session in sessions if isinstance(session, Mapping)]
    if not items:
        return '<section id="sessions"><h2>Sessions (0)</h2><p>No sessions in the window.</p></section>'
    lines = [f'<section id="sessions" class="sessions"><h2>Sessions ({len(items)})</h2><ul>']
    for session in items:
        user = _map(session.get("user"))
        who = user.get("uid") or user.get("email") or "unidentified user"  # a uid is often an email
        session_id = f"<code>{_text(session.get('session_id') or '?')}</code>"
        summary = _map(session.get("summary"))
        text = summary.get("text")
        ai = (
            f"<div>AI summary: {_text(clip(' '.join(str(text).split()), SUMMARY_CHARS))}</div>"
            if text
            else ""
        )
        lines.append(
            f"<li>{_link(_safe_url(session.get('replay_url')), session_id)} · {_text(who)} · "
            f"{_text(signals_text(session))}{ai}</li>"
        )
    lines.append("</ul></section>")
    return "\n".join(lines)


def _notes(report: Mapping[str, Any]) -> str:
    notes = [str(note) for note in report.get("notes") or []]
    unread = report.get("unread_events")
    if isinstance(unread, Mapping) and unread.get("note"):
        notes.insert(0, str(unread["note"]))
    if not notes:
        return ""
    return (
        '<section id="notes"><h2>Notes</h2><ul>'
        + "".join(f"<li>{_text(note)}</li>" for note in notes)
        + "</ul></section>"
    )


# --- pieces -------------------------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _hits_of(group: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [hit for hit in group.get("hits") or [] if isinstance(hit, Mapping)]


def _state(group: Mapping[str, Any]) -> str | None:
    state = group.get("state")  # `build_report` gives every group one when the report has continuity
    return str(state) if state in ("new", "ongoing") else None


def _mark(state: str | None) -> str:
    return f'<span class="badge mark-{state}">{state}</span> ' if state else ""


def _first_url(sessions: list[str], replay: Mapping[str, Any]) -> str | None:
    for session_id in sessions:
        url = _safe_url(replay.get(session_id))
        if url:
            return url
    return None


def _link(url: Any, inner_html: str, *, css: str | None = None) -> str:
    """`inner_html` is already escaped; the URL is written only when it is http(s)."""
    safe = _safe_url(url)
    if safe is None:
        return inner_html
    cls = f' class="{css}"' if css else ""
    return f'<a{cls} href="{_e(safe)}" target="_blank" rel="noopener">{inner_html}</a>'


def _safe_url(url: Any) -> str | None:
    if not isinstance(url, str) or not url or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_isoformat(value)
    except ValueError:
        return None


def _when(value: Any) -> str:
    """UTC to the second: `2026-11-01 00:03:00Z`; what cannot be read is shown as given."""
    moment = _instant(value)
    if moment is None:
        return "unknown" if value in (None, "") else mask_email(str(value))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _middle(low: datetime | None, high: datetime | None) -> datetime | None:
    return low + (high - low) / 2 if low is not None and high is not None else None


def _x(moment: datetime, low: datetime, high: datetime) -> int:
    span = (high - low).total_seconds()
    if span <= 0:
        return TRACK_WIDTH // 2
    return round(min(max((moment - low).total_seconds() / span, 0.0), 1.0) * TRACK_WIDTH)


def _token(value: str) -> str:
    return "".join(c for c in value if c.isalnum() or c in "-_")


def _text(value: Any) -> str:
    """Report text for the page: emails masked, then escaped."""
    return _e(mask_email(str(value)))


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
