"""Service areas: a radius around the base, or a GeoJSON Polygon (holes
allowed).  Pure: validation and containment, no I/O.  Dispatch does the
matching from the published event; these helpers say what a valid area is
and what it covers, with the same reading of the GeoJSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
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


def boundary_problems(boundary: object) -> list[str]:
    """Why `boundary` is not an acceptable community boundary: a Polygon, or a
    MultiPolygon whose every polygon passes the team-area rules."""
    if isinstance(boundary, dict) and boundary.get("type") == "MultiPolygon":
        parts = boundary.get("coordinates")
        if not isinstance(parts, list) or not parts:
            return ["coordinates must be a non-empty list of polygons"]
        problems = [f"polygon {i}: {p}" for i, part in enumerate(parts)
                    for p in polygon_problems({"type": "Polygon", "coordinates": part})]
        if problems:
            return problems
        if not shape(boundary).is_valid:
            return [f"the polygons overlap: {explain_validity(shape(boundary))}"]
        return []
    if not isinstance(boundary, dict) or boundary.get("type") != "Polygon":
        return ['must be a GeoJSON object with "type": "Polygon" or "MultiPolygon"']
    return polygon_problems(boundary)


def _local_km(lat0: float, lon0: float) -> Any:
    """A projection to km east/north of (lat0, lon0): good to metres over a city."""
    scale = np.array([111.320 * math.cos(math.radians(lat0)), 110.574])
    origin = np.array([lon0, lat0])

    def project(geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda xy: (xy - origin) * scale)

    return project


def base_inside(boundary: dict[str, Any], lat: float, lon: float) -> bool:
    """Whether the point lies inside the boundary (its edge counts)."""
    return bool(shape(boundary).covers(Point(lon, lat)))


def stays_near(boundary: dict[str, Any], base_lat: float, base_lon: float, radius_km: float,
               area: dict[str, Any] | None, margin_km: float) -> bool:
    """Whether the team's area (the polygon, else the radius circle) reaches
    past the community's boundary by at most `margin_km`."""
    project = _local_km(base_lat, base_lon)
    fence: BaseGeometry = project(shape(boundary)).buffer(margin_km + 1e-6, quad_segs=32)
    reach: BaseGeometry = (project(shape(area)) if area is not None
                           else Point(0.0, 0.0).buffer(radius_km, quad_segs=32))
    return bool(fence.covers(reach))


def covers(base_lat: float, base_lon: float, radius_km: float, area: dict[str, Any] | None,
           lat: float, lon: float) -> bool:
    """Whether a team's service area covers (lat, lon): inside the polygon
    (not in a hole; the boundary counts) when there is one, else within
    `radius_km` of the base."""
    if area is not None:
        return bool(shape(area).covers(Point(lon, lat)))
    return distance_km(base_lat, base_lon, lat, lon) <= radius_km
