"""Build the dashboard's offline map outline: US state polygons as a small GeoJSON file.

Source: ``states-10m.json`` of the npm package us-atlas 3 (ISC licence, derived from the US Census Bureau's
cartographic boundary files, public domain). Get it with ``cd /tmp && npm pack us-atlas@3 && tar xzf
us-atlas-3.*.tgz`` and run

    .venv/bin/python scripts/build_us_outline.py /tmp/package/states-10m.json

The file is TopoJSON: shared borders are stored once as arcs of quantized, delta-encoded integer positions.
Each arc is decoded with the file's transform and simplified once (Douglas-Peucker), so neighbouring states
keep one common border; rings that shrink below a triangle (small islands) are dropped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUTLINE = Path(__file__).resolve().parents[1] / "altaviz" / "dashboard" / "assets" / "us_states.geojson"
TOLERANCE_DEGREES = 0.01  # about 1 km: under one pixel at the zoom that fits Texas (about 0.02 degrees per px)
DECIMALS = 2


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """Every arc as absolute (longitude, latitude) positions: undo the delta encoding, then the quantization."""
    (scale_x, scale_y), (shift_x, shift_y) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        positions = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            positions.append((x * scale_x + shift_x, y * scale_y + shift_y))
        arcs.append(positions)
    return arcs


def simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker: keep the ends and every point farther than ``tolerance`` from the simplified line."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        farthest, distance = first, -1.0
        for i in range(first + 1, last):
            x, y = points[i]
            d = (abs((x2 - x1) * (y1 - y) - (x1 - x) * (y2 - y1)) / length if length
                 else ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5)
            if d > distance:
                farthest, distance = i, d
        if distance > tolerance:
            keep[farthest] = True
            stack += [(first, farthest), (farthest, last)]
    return [point for point, kept in zip(points, keep) if kept]


def ring(arc_indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]] | None:
    """One closed ring from its arcs (``~i`` is arc ``i`` reversed), rounded; None when it collapsed."""
    positions: list[list[float]] = []
    for index in arc_indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        for x, y in arc:
            point = [round(x, DECIMALS), round(y, DECIMALS)]
            if not positions or positions[-1] != point:
                positions.append(point)
    if positions and positions[0] != positions[-1]:
        positions.append(positions[0])
    return positions if len(positions) >= 4 else None


def states_geojson(topology: dict) -> dict:
    """A FeatureCollection of one MultiPolygon per state (property ``name``), in the file's order."""
    arcs = [simplify(arc, TOLERANCE_DEGREES) for arc in decode_arcs(topology)]
    features = []
    for geometry in topology["objects"]["states"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        multipolygon = []
        for polygon in polygons:
            exterior, *holes = (ring(r, arcs) for r in polygon)
            if exterior is not None:
                multipolygon.append([exterior, *(hole for hole in holes if hole is not None)])
        if multipolygon:
            features.append({"type": "Feature", "properties": {"name": geometry["properties"]["name"]},
                             "geometry": {"type": "MultiPolygon", "coordinates": multipolygon}})
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="states-10m.json from the npm package us-atlas 3")
    parser.add_argument("--out", type=Path, default=OUTLINE)
    args = parser.parse_args()
    outline = states_geojson(json.loads(args.topojson.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(outline, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(outline['features'])} states, {args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
