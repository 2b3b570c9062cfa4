#!/usr/bin/env python3
"""Draws docs/bench-scrape.svg from `trawler bench scrape` result lines:
pages stored per second against the demand, and peak RSS, for each number of
projects.

Usage: python3 bench/plot_scrape.py bench/scrape-results.txt docs/bench-scrape.svg
Each line `bench scrape projects=… pages_per_s=… peak_rss_kib=…` is one run;
runs with the same project count are averaged. No third-party modules.
"""
import sys
from collections import defaultdict


def parse(path):
    runs = defaultdict(list)
    for line in open(path):
        if not line.startswith("bench scrape "):
            continue
        f = dict(kv.split("=", 1) for kv in line.split()[2:])
        runs[int(f["projects"])].append(
            (float(f["demand_pages_per_s"]), float(f["pages_per_s"]), float(f["peak_rss_kib"]) / 1024.0)
        )
    out = []
    for n in sorted(runs):
        v = runs[n]
        out.append((n, *(sum(x[i] for x in v) / len(v) for i in range(3))))
    return out


def nice(v):
    """A round axis maximum at or above v, in four round steps."""
    magnitude = 10 ** (len(str(int(max(v, 1) / 4))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if 4 * step * magnitude >= v:
            return 4 * step * magnitude
    return 40 * magnitude


def panel(x0, title, points, series, y_max, y_label, width=300, height=260):
    """One chart: x = projects (thousands), y from 0 to y_max."""
    left, bottom, top = 64, 40, 30
    plot_w, plot_h = width - left - 15, height - bottom - top
    x_max = nice(max(p[0] for p in points))
    sx = lambda n: x0 + left + n / x_max * plot_w
    sy = lambda v: top + plot_h - v / y_max * plot_h
    parts = [f'<text x="{x0 + width / 2}" y="18" text-anchor="middle" font-weight="600">{title}</text>']
    for i in range(5):
        v = y_max * i / 4
        y = sy(v)
        parts.append(f'<line x1="{x0 + left}" y1="{y}" x2="{x0 + left + plot_w}" y2="{y}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{x0 + left - 6}" y="{y + 4}" text-anchor="end">{v:,.0f}</text>')
    for i in range(5):
        n = x_max * i / 4
        parts.append(f'<text x="{sx(n)}" y="{top + plot_h + 16}" text-anchor="middle">{n / 1000:,.0f}k</text>')
    parts.append(f'<text x="{x0 + left + plot_w / 2}" y="{height - 4}" text-anchor="middle">projects</text>')
    parts.append(
        f'<text x="{x0 + 12}" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 12} {top + plot_h / 2})">{y_label}</text>'
    )
    for label, index, color, dash in series:
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(p[0]):.1f},{sy(p[index]):.1f}" for i, p in enumerate(points))
        parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
        for p in points:
            parts.append(f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[index]):.1f}" r="3" fill="{color}"/>')
    for i, (label, _, color, dash) in enumerate(series):
        y = top + 10 + i * 16
        parts.append(
            f'<line x1="{x0 + left + 10}" y1="{y}" x2="{x0 + left + 30}" y2="{y}" stroke="{color}" '
            f'stroke-width="2" stroke-dasharray="{dash}"/>'
        )
        parts.append(f'<text x="{x0 + left + 36}" y="{y + 4}">{label}</text>')
    return parts


def svg(points):
    rate_max = nice(max(max(p[1], p[2]) for p in points))
    rss_max = nice(max(p[3] for p in points))
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="270" font-family="sans-serif" font-size="11">',
        '<rect width="640" height="270" fill="#fff"/>',
    ]
    parts += panel(
        0,
        "Pages stored per second",
        points,
        [("demand", 1, "#9ca3af", "4 3"), ("stored", 2, "#2563eb", "")],
        rate_max,
        "pages/s",
    )
    parts += panel(320, "Peak RSS", points, [("trawler + simulator", 3, "#dc2626", "")], rss_max, "MiB")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_scrape.py RESULTS.txt OUT.svg")
    points = parse(sys.argv[1])
    if not points:
        sys.exit(f"{sys.argv[1]}: no `bench scrape` lines")
    with open(sys.argv[2], "w") as out:
        out.write(svg(points))
