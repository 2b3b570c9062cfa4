#!/usr/bin/env python3
"""Draws docs/bench-ingest.svg from `trawler bench ingest` result lines.

Usage: python3 bench/plot_ingest.py RESULTS.txt docs/bench-ingest.svg
Each line `bench ingest backend=… senders=… ratio=…` is one run; runs with the
same backend and sender count are averaged. No third-party modules.
"""
import sys
from collections import defaultdict


def parse(path):
    runs = defaultdict(list)
    for line in open(path):
        if not line.startswith("bench ingest "):
            continue
        fields = dict(f.split("=", 1) for f in line.split()[2:])
        key = (fields["backend"], int(fields["senders"]))
        runs[key].append((float(fields["product_rows_per_s"]), float(fields["baseline_rows_per_s"])))
    return {k: (sum(p for p, _ in v) / len(v), sum(b for _, b in v) / len(v)) for k, v in runs.items()}


def svg(results):
    backends = sorted({b for b, _ in results})
    senders = sorted({s for _, s in results})
    width, height, left, bottom, top = 640, 340, 70, 50, 40
    plot_h = height - bottom - top
    peak = max(max(p, b) for p, b in results.values())
    group_w = (width - left - 20) / (len(backends) * len(senders))
    bar_w = group_w / 3
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">trawler bench ingest: product path vs raw baseline (rows/s)</text>']
    for i in range(0, 5):
        v = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y:.0f}" y2="{y:.0f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">{v / 1000:.0f}k</text>')
    x = left + bar_w / 2
    for backend in backends:
        for s in senders:
            if (backend, s) not in results:
                continue
            product, baseline = results[(backend, s)]
            for j, (value, colour) in enumerate([(product, "#2b7bb9"), (baseline, "#bbb")]):
                h = plot_h * value / peak
                out.append(f'<rect x="{x + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colour}"/>')
            out.append(f'<text x="{x + bar_w:.1f}" y="{top + plot_h - plot_h * product / peak - 4:.1f}" text-anchor="middle">{product / baseline:.0%}</text>')
            out.append(f'<text x="{x + bar_w:.1f}" y="{height - bottom + 15}" text-anchor="middle">{backend}</text>')
            out.append(f'<text x="{x + bar_w:.1f}" y="{height - bottom + 29}" text-anchor="middle">{s} senders</text>')
            x += group_w
    out.append(f'<rect x="{width - 200}" y="30" width="10" height="10" fill="#2b7bb9"/><text x="{width - 185}" y="39">trawler (IngestActor)</text>')
    out.append(f'<rect x="{width - 200}" y="45" width="10" height="10" fill="#bbb"/><text x="{width - 185}" y="54">raw baseline</text>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[2], "w") as f:
        f.write(svg(parse(sys.argv[1])) + "\n")
