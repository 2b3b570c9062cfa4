#!/usr/bin/env python3
"""Draws docs/bench-storage.svg from `trawler bench storage` result lines.

Usage: python3 bench/plot_storage.py RESULTS.txt docs/bench-storage.svg
Each line `bench storage backend=… days=… bytes_per_point=…
baseline_bytes_per_point=…` is one run; runs with the same backend and days
are averaged. Bytes per point on a log scale: the row layout next to the
chunk layout (head included). No third-party modules.
"""
import math
import sys
from collections import defaultdict


def parse(path):
    runs = defaultdict(list)
    for line in open(path):
        if not line.startswith("bench storage "):
            continue
        f = dict(x.split("=", 1) for x in line.split()[2:])
        runs[(f["backend"], int(f["days"]))].append((float(f["bytes_per_point"]), float(f["baseline_bytes_per_point"])))
    return {k: (sum(c for c, _ in v) / len(v), sum(r for _, r in v) / len(v)) for k, v in sorted(runs.items())}


def svg(results):
    width, height, left, bottom, top = 680, 360, 70, 60, 40
    plot_h = height - bottom - top
    lo, hi = 0.5, 500.0
    y = lambda v: top + plot_h * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
    group_w = (width - left - 20) / len(results)
    bar_w = group_w / 3
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">Bytes on disk per stored point (log scale, indexes and head included)</text>']
    for v in [1, 2, 10, 100]:
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(2):.1f}" y2="{y(2):.1f}" stroke="#c33" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{width - 22}" y="{y(2) - 4:.1f}" text-anchor="end" fill="#c33">target 2</text>')
    for i, ((backend, days), (chunk, rows)) in enumerate(results.items()):
        x0 = left + i * group_w + bar_w / 2
        for j, (value, colour) in enumerate([(rows, "#999"), (chunk, "#2a6")]):
            x = x0 + j * bar_w
            out.append(f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w - 4:.1f}" height="{y(lo) - y(value):.1f}" fill="{colour}"/>')
            out.append(f'<text x="{x + (bar_w - 4) / 2:.1f}" y="{y(value) - 4:.1f}" text-anchor="middle">{value:.2f}</text>')
        out.append(f'<text x="{x0 + bar_w:.1f}" y="{height - bottom + 18}" text-anchor="middle">{backend}, {days} days</text>')
    out.append(f'<rect x="{left}" y="{height - 22}" width="12" height="12" fill="#999"/><text x="{left + 16}" y="{height - 12}">rows (points table alone)</text>')
    out.append(f'<rect x="{left + 200}" y="{height - 22}" width="12" height="12" fill="#2a6"/><text x="{left + 216}" y="{height - 12}">chunks + head</text>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    open(sys.argv[2], "w").write(svg(parse(sys.argv[1])) + "\n")
