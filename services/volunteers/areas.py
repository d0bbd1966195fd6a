"""Service areas: a radius around the base, or a GeoJSON Polygon (holes
allowed).  Pure: validation and containment, no I/O.  Dispatch does the
matching from the published event; these helpers say what a valid area is
and what it covers, with the same reading of the GeoJSON."""

from __future__ import annotations

from typing import Any

from shapely.geometry import Point, Polygon, shape
from shapely.validation import explain_validity

from shared.geo import distance_km

MAX_RADIUS_KM = 50.0
MAX_VERTICES = 5000


def polygon_problems(area: object) -> list[str]:
    """Why `area` is not an acceptable GeoJSON Polygon; empty when it is.
    Each ring must be closed (first point = last), have 4+ points, lie in
    lon/lat ranges; the polygon must be valid (no self-intersection) and
    every hole must lie inside the shell."""
    if not isinstance(area, dict) or area.get("type") != "Polygon":
        return ['must be a GeoJSON object with "type": "Polygon"']
    rings = area.get("coordinates")
    if not isinstance(rings, list) or not rings:
        return ["coordinates must be a non-empty list of linear rings"]
    problems: list[str] = []
    total = 0
    for r, ring in enumerate(rings):
        name = "shell" if r == 0 else f"hole {r}"
        if not isinstance(ring, list) or len(ring) < 4:
            problems.append(f"{name} needs at least 4 positions (a closed triangle)")
            continue
        total += len(ring)
        for p, pos in enumerate(ring):
            if (not isinstance(pos, list | tuple) or len(pos) not in (2, 3)
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)):
                problems.append(f"{name} position {p} must be [lon, lat]")
                break
            lon, lat = pos[0], pos[1]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                problems.append(f"{name} position {p} is out of range: lon {lon}, lat {lat}")
                break
        else:
            if list(ring[0][:2]) != list(ring[-1][:2]):
                problems.append(f"{name} is not closed: the first and last positions differ")
    if total > MAX_VERTICES:
        problems.append(f"at most {MAX_VERTICES} positions in all")
    if problems:
        return problems
    polygon = shape(area)
    if not polygon.is_valid:
        return [f"the polygon is not valid: {explain_validity(polygon)}"]
    if polygon.is_empty or polygon.area == 0:
        return ["the polygon has no area"]
    shell = Polygon(polygon.exterior)
    for h, hole in enumerate(polygon.interiors, start=1):
        if not shell.contains(Polygon(hole)):
            problems.append(f"hole {h} is not inside the shell")
    return problems


def covers(base_lat: float, base_lon: float, radius_km: float, area: dict[str, Any] | None,
           lat: float, lon: float) -> bool:
    """Whether a team's service area covers (lat, lon): inside the polygon
    (not in a hole; the boundary counts) when there is one, else within
    `radius_km` of the base."""
    if area is not None:
        return bool(shape(area).covers(Point(lon, lat)))
    return distance_km(base_lat, base_lon, lat, lon) <= radius_km
