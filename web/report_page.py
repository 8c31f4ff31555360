"""The after-action report as a printable page: plain HTML rendered on the server, in Chinese or English, with a
print style sheet (web/pages/static/css/report.css) and the map as inline SVG. No script, nothing from another
origin: it prints and saves as it shows.

The map projects lon/lat onto a local plane (equirectangular about the incident, metres), which over the few
kilometres of an incident is within a fraction of a percent of true distances: good enough for a drawing with a
scale bar, and no map tiles needed.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from command.schemas import MILESTONES, IncidentReport
from incidents.schemas import CATEGORIES, SUBTYPES
from web.routes.pages import build_id

LANGUAGES = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "事后评估报告",
        "incident": "事件",
        "category": "类别",
        "grade": "事件分级",
        "status": "状态",
        "reported_at": "接报时间",
        "closed_at": "结束时间",
        "generated_at": "报告生成",
        "zone": "时区",
        "partial": "事件尚未结束：这是一份阶段性报告，内容截至报告生成之时。",
        "complete": "事件已结束：报告完整。",
        "source": "全部数据由事件日志计算得出（截至第 {n} 号事件），任何时候都可重新生成。",
        "summary": "概要",
        "units_sent": "出动单位",
        "first_dispatch": "接报至首次派遣",
        "first_on_scene": "接报至首支到场",
        "units": "各单位响应时间",
        "unit": "单位",
        "device_note": "† 手机上报的时间；其余为系统记录时间。括号内为距接报的时长。",
        "map": "现场地图与单位轨迹",
        "map_note": "轨迹来自各单位派遣期间的位置事件；比例尺为本地投影。",
        "late_tasks": "超时的预案任务",
        "task": "任务",
        "role": "责任角色",
        "due_at": "期限",
        "done_at": "完成",
        "late_by": "超时",
        "not_done": "未完成",
        "escalations": "升级上报",
        "escalated_at": "升级时间",
        "waited": "等待确认",
        "handled": "处理",
        "deliveries": "发送失败的通知",
        "kind": "类型",
        "channel": "渠道",
        "state": "状态",
        "tries": "尝试次数",
        "error": "错误",
        "timeline": "时间线",
        "at": "时间",
        "what": "事项",
        "who": "操作人",
        "details": "详情",
        "none": "无",
        "dead": "已放弃",
        "failed": "失败（待重试）",
        "no_map": "没有位置记录。",
        "exercise": "演练：本事件由演练产生，不是真实事件。",
        "drill": "演练评分",
        "drill_name": "演练",
        "expected_plan": "应启动预案",
        "plans_activated": "已启动预案",
        "decide_by": "决策期限",
        "first_decision": "首次决策（启动预案或派遣）",
        "verdict": "评定",
        "any_plan": "未指定",
        "on_time": "按时",
        "late": "超时 {late}",
        "missed": "未决策",
        "pending": "尚未到期",
        "made": "已决策",
        "not_made": "未决策",
        "plan_ok": "与预期一致",
        "plan_wrong": "与预期不一致",
    },
    "en": {
        "title": "After-action report",
        "incident": "Incident",
        "category": "Category",
        "grade": "Grade",
        "status": "Status",
        "reported_at": "Reported",
        "closed_at": "Ended",
        "generated_at": "Report made",
        "zone": "Time zone",
        "partial": "The incident is still open: this is a partial report, as of the time it was made.",
        "complete": "The incident has ended: the report is complete.",
        "source": "Every figure is computed from the event log (up to event #{n}); the report can be rebuilt "
        "at any time.",
        "summary": "Summary",
        "units_sent": "Units sent",
        "first_dispatch": "Reported to first dispatch",
        "first_on_scene": "Reported to first on scene",
        "units": "Response times by unit",
        "unit": "Unit",
        "device_note": "† time given by the crew's phone; others as logged. In brackets: time since the report.",
        "map": "Map of the incident and the units' tracks",
        "map_note": "Tracks from each unit's position events while dispatched; scale in a local projection.",
        "late_tasks": "Plan tasks done late",
        "task": "Task",
        "role": "Role",
        "due_at": "Due",
        "done_at": "Done",
        "late_by": "Late by",
        "not_done": "not done",
        "escalations": "Escalations",
        "escalated_at": "Escalated",
        "waited": "Unanswered for",
        "handled": "Handled",
        "deliveries": "Deliveries that failed",
        "kind": "Kind",
        "channel": "Channel",
        "state": "State",
        "tries": "Tries",
        "error": "Error",
        "timeline": "Timeline",
        "at": "Time",
        "what": "What",
        "who": "By",
        "details": "Details",
        "none": "None.",
        "dead": "given up",
        "failed": "failed (to retry)",
        "no_map": "No positions were logged.",
        "exercise": "EXERCISE: this incident was made by a drill; it is not a real emergency.",
        "drill": "Drill score",
        "drill_name": "Drill",
        "expected_plan": "Plan expected",
        "plans_activated": "Plans activated",
        "decide_by": "Decision due",
        "first_decision": "First decision (plan activated or unit sent)",
        "verdict": "Verdict",
        "any_plan": "any",
        "on_time": "on time",
        "late": "late by {late}",
        "missed": "no decision",
        "pending": "not yet due",
        "made": "decided",
        "not_made": "no decision",
        "plan_ok": "as expected",
        "plan_wrong": "not as expected",
    },
}

STEPS = {
    "zh": dict(zip(MILESTONES, ("接报", "派遣", "确认", "出发", "到场", "转运", "到院", "完成"), strict=True)),
    "en": dict(
        zip(
            MILESTONES,
            (
                "Reported",
                "Dispatched",
                "Acknowledged",
                "En route",
                "On scene",
                "Transporting",
                "At hospital",
                "Cleared",
            ),
            strict=True,
        )
    ),
}
GRADES = {
    "zh": {"I": "I级 特别重大", "II": "II级 重大", "III": "III级 较大", "IV": "IV级 一般"},
    "en": {
        "I": "I (particularly serious)",
        "II": "II (serious)",
        "III": "III (relatively serious)",
        "IV": "IV (general)",
    },
}
STATUSES = {
    "zh": {
        "reported": "已接报",
        "verified": "已核实",
        "responding": "处置中",
        "contained": "已控制",
        "closed": "已结案",
        "cancelled": "已取消",
    },
    "en": {
        "reported": "reported",
        "verified": "verified",
        "responding": "responding",
        "contained": "contained",
        "closed": "closed",
        "cancelled": "cancelled",
    },
}
KINDS = {
    "zh": {
        "created": "接报登记",
        "transition": "状态变更",
        "plan_activated": "启动预案",
        "plan_escalated": "预案升级",
        "units_dispatched": "派遣单位",
        "dispatch_acknowledged": "确认派遣",
        "unit_status": "单位状态",
        "dispatch_realerted": "再次提醒",
        "dispatch_escalated": "升级上报",
        "escalation_handled": "处理升级",
        "task_started": "任务开始",
        "task_done": "任务完成",
        "task_overdue": "任务超时",
        "grade_override": "调整分级",
        "edited": "修改",
        "note": "备注",
        "unit_overdue": "单位超时未到",
        "unit_stale": "位置中断",
    },
    "en": {
        "created": "logged",
        "transition": "status change",
        "plan_activated": "plan activated",
        "plan_escalated": "plan escalated",
        "units_dispatched": "units dispatched",
        "dispatch_acknowledged": "dispatch acknowledged",
        "unit_status": "unit status",
        "dispatch_realerted": "re-alerted",
        "dispatch_escalated": "escalated",
        "escalation_handled": "escalation handled",
        "task_started": "task started",
        "task_done": "task done",
        "task_overdue": "task overdue",
        "grade_override": "grade override",
        "edited": "edited",
        "note": "note",
        "unit_overdue": "unit overdue",
        "unit_stale": "no recent position",
    },
}
COLOURS = ("#1f5fa8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666")


def language_of(accept_language: str | None) -> str:
    """The first of our languages the browser prefers (Accept-Language, by q), else Chinese."""
    best, best_q = "zh", -1.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > best_q:
            best, best_q = base, q
    return best


def duration(seconds: float | None) -> str:
    """``1:02:03``, ``2:03`` or ``45 s`` (negative with a minus sign); an en dash for none."""
    if seconds is None:
        return "–"
    sign, s = ("−" if seconds < 0 else ""), round(abs(seconds))
    if s < 60:
        return f"{sign}{s} s"
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"


class _Page:
    def __init__(self, report: IncidentReport, lang: str, zone: ZoneInfo) -> None:
        self.r, self.lang, self.zone = report, lang, zone
        self.t = TEXT[lang]

    def when(self, at: datetime | None, *, date: bool = False) -> str:
        if at is None:
            return "–"
        local = at.astimezone(self.zone)
        return local.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")

    def category(self) -> str:
        r, zh = self.r, self.lang == "zh"
        names = []
        if r.category is not None and r.category in CATEGORIES:
            c = CATEGORIES[r.category]
            names.append(c.zh if zh else c.en)
        if r.subtype is not None and r.subtype in SUBTYPES:
            s = SUBTYPES[r.subtype]
            names.append(s.zh if zh else s.en)
        return " / ".join(names) or "–"

    def header(self) -> str:
        r, t = self.r, self.t
        facts = [
            (t["category"], self.category()),
            (t["grade"], GRADES[self.lang].get(r.grade or "", "–")),
            (t["status"], STATUSES[self.lang].get(r.status, r.status)),
            (t["reported_at"], self.when(r.reported_at, date=True)),
            (t["closed_at"], self.when(r.closed_at, date=True)),
            (t["generated_at"], self.when(r.generated_at, date=True)),
            (t["zone"], str(self.zone)),
        ]
        rows = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
        banner_class, banner = ("partial", t["partial"]) if r.partial else ("complete", t["complete"])
        exercise = f'<p class="banner exercise" role="note">{escape(t["exercise"])}</p>' if r.exercise else ""
        return (
            f'<header><p class="kicker">{escape(t["title"])}</p>'
            f"<h1>{escape(t['incident'])} #{r.incident_id} · {escape(r.title)}</h1>"
            f'<p class="banner {banner_class}" role="status">{escape(banner)}</p>'
            f"{exercise}"
            f'<dl class="facts">{rows}</dl></header>'
        )

    def summary(self) -> str:
        t, units = self.t, self.r.units
        firsts = {
            name: min(
                (s for u in units for m in u.milestones if m.name == name and (s := m.since_reported_s) is not None),
                default=None,
            )
            for name in ("dispatched", "on_scene")
        }
        items = [
            (t["units_sent"], str(len({u.unit_id for u in units}))),
            (t["first_dispatch"], duration(firsts["dispatched"])),
            (t["first_on_scene"], duration(firsts["on_scene"])),
            (t["late_tasks"], str(len(self.r.late_tasks))),
            (t["escalations"], str(len(self.r.escalations))),
            (t["deliveries"], str(len(self.r.failed_deliveries))),
        ]
        cells = "".join(f'<div class="figure"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in items)
        return f'<section><h2>{escape(t["summary"])}</h2><div class="figures">{cells}</div></section>'

    def units(self) -> str:
        t, steps = self.t, STEPS[self.lang]
        head = "".join(f"<th>{escape(steps[name])}</th>" for name in MILESTONES[1:])
        rows = []
        for u in self.r.units:
            reached = {m.name: m for m in u.milestones}
            cells = []
            for name in MILESTONES[1:]:
                m = reached.get(name)
                if m is None:
                    cells.append('<td class="none">–</td>')
                    continue
                mark = "†" if m.source == "device" else ""
                cells.append(f"<td>{self.when(m.at)}{mark}<br><small>(+{duration(m.since_reported_s)})</small></td>")
            name = escape(u.unit_name or f"#{u.unit_id}")
            rows.append(f'<tr><th scope="row">{name}<br><small>{escape(u.unit_type)}</small></th>{"".join(cells)}</tr>')
        body = "".join(rows) or f'<tr><td colspan="{len(MILESTONES)}">{escape(t["none"])}</td></tr>'
        return (
            f'<section class="units"><h2>{escape(t["units"])}</h2>'
            f'<p class="note">{escape(steps["reported"])}: {self.when(self.r.reported_at, date=True)}. '
            f"{escape(t['device_note'])}</p>"
            f"<table><thead><tr><th>{escape(t['unit'])}</th>{head}</tr></thead><tbody>{body}</tbody></table></section>"
        )

    def table(self, title: str, headings: list[str], rows: list[list[str]], css: str = "") -> str:
        t = self.t
        if not rows:
            return f'<section class="{css}"><h2>{escape(title)}</h2><p class="none">{escape(t["none"])}</p></section>'
        head = "".join(f"<th>{escape(h)}</th>" for h in headings)
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        return (
            f'<section class="{css}"><h2>{escape(title)}</h2>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
        )

    def late_tasks(self) -> str:
        t = self.t
        rows = [
            [
                escape(task.title if self.lang == "zh" else task.title_en or task.title),
                escape(task.role),
                self.when(task.due_at),
                self.when(task.done_at) if task.done else escape(t["not_done"]),
                f"<b>{duration(task.late_s)}</b>",
            ]
            for task in self.r.late_tasks
        ]
        return self.table(t["late_tasks"], [t["task"], t["role"], t["due_at"], t["done_at"], t["late_by"]], rows)

    def escalations(self) -> str:
        t = self.t
        rows = [
            [
                escape(e.unit_name or f"#{e.unit_id}"),
                self.when(e.escalated_at),
                duration(e.waited_s),
                escape(" ".join(x for x in (self.when(e.handled_at) if e.handled_at else "", e.handled_by or "",
                                             e.handling or "") if x) or "–"),
            ]
            for e in self.r.escalations
        ]  # fmt: skip
        return self.table(t["escalations"], [t["unit"], t["escalated_at"], t["waited"], t["handled"]], rows)

    def deliveries(self) -> str:
        t = self.t
        rows = [
            [
                self.when(d.at),
                escape(d.kind),
                escape(d.channel),
                escape(t[d.state]),
                str(d.tries),
                escape((d.last_error or "")[:200]),
            ]
            for d in self.r.failed_deliveries
        ]
        headings = [t["at"], t["kind"], t["channel"], t["state"], t["tries"], t["error"]]
        return self.table(t["deliveries"], headings, rows)

    def drill(self) -> str:
        """A drill's incident: the exercise banner and how the room met the drill's expectations."""
        t, d = self.t, self.r.drill
        if d is None:
            return ""
        verdict = t[d.verdict].format(late=duration(d.late_by_s))
        plans = ", ".join(d.plans_activated) or t["none"]
        if d.plan_as_expected is not None:
            plans += f" ({t['plan_ok'] if d.plan_as_expected else t['plan_wrong']})"
        rows = [
            (t["drill_name"], escape(d.name)),
            (t["expected_plan"], escape(d.expected_plan or t["any_plan"])),
            (t["plans_activated"], escape(plans)),
            (t["decide_by"], self.when(d.decide_by) if d.decide_by else "–"),
            (t["first_decision"], self.when(d.first_decision_at) if d.first_decision_at else "–"),
            (t["verdict"], f'<b class="verdict {d.verdict}">{escape(verdict)}</b>'),
        ]
        cells = "".join(f"<div><dt>{escape(k)}</dt><dd>{v}</dd></div>" for k, v in rows)
        return f'<section class="drill"><h2>{escape(t["drill"])}</h2><dl class="facts">{cells}</dl></section>'

    def timeline(self) -> str:
        t, kinds = self.t, KINDS[self.lang]
        rows = [
            [
                self.when(e.at),
                escape(kinds.get(e.kind, e.kind)),
                escape(e.actor or "–"),
                escape(_details(e.data)),
            ]
            for e in self.r.timeline
        ]
        return self.table(t["timeline"], [t["at"], t["what"], t["who"], t["details"]], rows, css="timeline")

    def map(self) -> str:
        t = self.t
        svg = draw_map(self.r.map, lang=self.lang) or f'<p class="none">{escape(t["no_map"])}</p>'
        note = f'<p class="note">{escape(t["map_note"])}</p>'
        return f'<section class="map"><h2>{escape(t["map"])}</h2>{svg}{note}</section>'

    def render(self) -> str:
        t, r = self.t, self.r
        source = t["source"].format(n=r.last_event_id or 0)
        css = f"../../../../static/{build_id()}/css/report.css"
        return (
            f'<!DOCTYPE html><html lang="{"zh-CN" if self.lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(t['title'])} · #{r.incident_id} {escape(r.title)}</title>"
            f'<link rel="stylesheet" href="{css}"></head><body><main class="report">'
            f"{self.header()}{self.drill()}{self.summary()}{self.units()}{self.map()}{self.late_tasks()}{self.escalations()}"
            f"{self.deliveries()}{self.timeline()}"
            f'<footer><p>{escape(source)}</p><p class="muted">Commandpost</p></footer></main></body></html>'
        )


def _details(data: dict[str, Any]) -> str:
    """A timeline entry's details on one line: its plain values, briefly."""
    if "from" in data and "to" in data and "unit_id" in data:
        why = f" ({data['reason']})" if data.get("reason") else ""
        return f"#{data['unit_id']}: {data['from']} → {data['to']}{why}"
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            value = ", ".join(str(v["name"]) for v in value)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            parts.append(f"{key}: {value}")
    text = "; ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"


def draw_map(collection: dict[str, Any], *, lang: str, width: int = 720, height: int = 420) -> str:
    """The incident and the tracks as inline SVG, projected about the incident; empty when there is nothing."""
    features = collection.get("features", [])
    incident = next((f for f in features if f["properties"].get("kind") == "incident"), None)
    if incident is None:
        return ""
    lon0, lat0 = incident["geometry"]["coordinates"][:2]
    kx, ky = 111_320 * math.cos(math.radians(lat0)), 110_540  # metres per degree, here

    def plane(c: list[float]) -> tuple[float, float]:
        return (c[0] - lon0) * kx, (c[1] - lat0) * ky

    tracks = [f for f in features if f["properties"].get("kind") == "track"]
    shapes = [[plane(c) for c in (f["geometry"]["coordinates"] if f["geometry"]["type"] == "LineString"
                                  else [f["geometry"]["coordinates"]])] for f in tracks]  # fmt: skip
    points = [(0.0, 0.0)] + [p for s in shapes for p in s]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    pad, top = 40, 42 + 16 * min(len(tracks), 12)  # room above for the legend
    ext_x = max(max(xs) - min(xs), 400.0)  # at least 400 m across
    ext_y = max(max(ys) - min(ys), 400.0 * height / width)
    scale = min((width - 2 * pad) / ext_x, (height - pad - top) / ext_y)  # pixels per metre, the same both ways
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    middle_y = top + (height - pad - top) / 2

    def screen(p: tuple[float, float]) -> tuple[float, float]:
        return width / 2 + (p[0] - cx) * scale, middle_y - (p[1] - cy) * scale

    parts = [f'<rect class="paper" x="0" y="0" width="{width}" height="{height}"/>']
    legend = []
    for i, (f, shape) in enumerate(zip(tracks, shapes, strict=True)):
        colour = COLOURS[i % len(COLOURS)]
        where = [screen(p) for p in shape]
        name = escape(str(f["properties"].get("name") or f"#{f['properties'].get('unit_id')}"))
        if len(where) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in where)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5" '
                         f'stroke-linejoin="round" stroke-linecap="round"/>')  # fmt: skip
            sx, sy = where[0]
            start = f'cx="{sx:.1f}" cy="{sy:.1f}" r="3.5" fill="#fff" stroke="{colour}" stroke-width="2"'
            parts.append(f"<circle {start}/>")
        ex, ey = where[-1]
        parts.append(f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="4.5" fill="{colour}"/>')
        # The name where the unit came from (the ends meet at the incident): on the side away from the middle.
        sx, sy = where[0]
        anchor, dx = ("end", -8) if sx > width / 2 else ("start", 8)
        short = name.split(" · ")[0]  # "[DEMO] Fire engine 1 · <station>": the legend has the rest
        parts.append(f'<text x="{sx + dx:.1f}" y="{sy + 4:.1f}" text-anchor="{anchor}" class="label">{short}</text>')
        legend.append((colour, name))
    ix, iy = screen((0.0, 0.0))
    star = " ".join(
        f"{ix + r * math.sin(a):.1f},{iy - r * math.cos(a):.1f}"
        for k in range(10)
        for a, r in [(k * math.pi / 5, 11 if k % 2 == 0 else 4.5)]
    )
    parts.append(f'<polygon points="{star}" fill="#d7191c" stroke="#fff" stroke-width="1.2"/>')
    parts.append(_scale_bar(scale, height))
    parts.append(f'<text x="{width - 14}" y="22" class="north" text-anchor="middle">N</text>'
                 f'<path d="M{width - 14},28 l-5,12 l5,-4 l5,4 z" fill="#333"/>')  # fmt: skip
    label = "事件地点" if lang == "zh" else "the incident"
    parts.append(f'<text x="11" y="20" class="legend star">★</text><text x="30" y="20" class="legend">{label}</text>')
    for i, (colour, name) in enumerate(legend[:12]):
        y = 34 + i * 16
        parts.append(f'<rect x="10" y="{y - 8}" width="14" height="4" fill="{colour}"/>'
                     f'<text x="30" y="{y - 2}" class="legend">{name}</text>')  # fmt: skip
    return (
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _scale_bar(scale: float, height: int) -> str:
    """A bar of a round length (50 m … 50 km) about a fifth of the map wide."""
    target = 140 / scale  # metres in ~140 px
    length = max((n for n in (50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000) if n <= target), default=50)
    px = length * scale
    text = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    y = height - 16
    return (
        f'<path d="M14,{y - 5} v5 h{px:.1f} v-5" fill="none" stroke="#333" stroke-width="1.5"/>'
        f'<text x="{14 + px / 2:.1f}" y="{y - 8}" class="scale" text-anchor="middle">{text}</text>'
    )


def render(report: IncidentReport, *, lang: str, zone: ZoneInfo) -> str:
    """The report's page in ``lang`` (zh or en), times in ``zone``."""
    return _Page(report, lang if lang in LANGUAGES else "zh", zone).render()
