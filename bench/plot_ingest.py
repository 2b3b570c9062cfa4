#!/usr/bin/env python3
"""Draws docs/bench-ingest.svg from `trawler bench ingest` result lines.

Usage: python3 bench/plot_ingest.py RESULTS.txt docs/bench-ingest.svg
Each line `bench ingest backend=… senders=… ratio=…` is one run. Runs without
the compactor count; lines without `spool=` predate the journal and ran
without it. Runs with the same backend, sender count and spool setting are
averaged, as are the baselines of a backend and sender count. Each group
shows trawler with the journal, trawler without it, and the raw baseline,
labelled with their mean ratio to the baseline of the same run. No third-party modules.
"""
import sys
from collections import defaultdict


def parse(path):
    product = defaultdict(list)
    baseline = defaultdict(list)
    for line in open(path):
        if not line.startswith("bench ingest "):
            continue
        fields = dict(f.split("=", 1) for f in line.split()[2:])
        if fields.get("compactor", "off") != "off":
            continue
        key = (fields["backend"], int(fields["senders"]))
        product[key + (fields.get("spool", "off"),)].append((float(fields["product_rows_per_s"]), float(fields["ratio"])))
        baseline[key].append(float(fields["baseline_rows_per_s"]))
    mean = lambda v: sum(v) / len(v)
    products = {k: (mean([r for r, _ in v]), mean([q for _, q in v])) for k, v in product.items()}
    return products, {k: mean(v) for k, v in baseline.items()}


BARS = [("on", "#2b7bb9", "trawler, journal (default)"), ("off", "#9cc3e4", "trawler, no journal"), (None, "#bbb", "raw baseline")]


def svg(product, baseline):
    groups = sorted(baseline)
    width, height, left, bottom, top = 720, 360, 70, 50, 60
    plot_h = height - bottom - top
    peak = max([r for r, _ in product.values()] + list(baseline.values()))
    group_w = (width - left - 20) / len(groups)
    bar_w = group_w / 4
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">trawler bench ingest: product path vs raw baseline (rows/s)</text>']
    for i in range(0, 5):
        v = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y:.0f}" y2="{y:.0f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">{v / 1000:.0f}k</text>')
    x = left + bar_w / 2
    for backend, senders in groups:
        base = baseline[(backend, senders)]
        for j, (spool, colour, _) in enumerate(BARS):
            found = (base, None) if spool is None else product.get((backend, senders, spool))
            if found is None:
                continue
            value, share = found
            h = plot_h * value / peak
            bx = x + j * bar_w
            out.append(f'<rect x="{bx:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colour}"/>')
            if spool is not None:
                out.append(f'<text x="{bx + bar_w / 2:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle">{share:.0%}</text>')
        out.append(f'<text x="{x + 1.5 * bar_w:.1f}" y="{height - bottom + 15}" text-anchor="middle">{backend}</text>')
        out.append(f'<text x="{x + 1.5 * bar_w:.1f}" y="{height - bottom + 29}" text-anchor="middle">{senders} senders</text>')
        x += group_w
    for i, (_, colour, label) in enumerate(BARS):
        lx = left + 10 + i * 200
        out.append(f'<rect x="{lx}" y="32" width="10" height="10" fill="{colour}"/><text x="{lx + 15}" y="41">{label}</text>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[2], "w") as f:
        f.write(svg(*parse(sys.argv[1])) + "\n")
