"""Solomon and Gehring-Homberger VRPTW instances as Problems, under the DIMACS conventions."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dispatch.errors import DataMissingError, ValidationError
from dispatch.optimise.model import Problem, Team, TimeWindow, Visit
from dispatch.optimise.plan import Plan

#: DIMACS 2021: distances and times are Euclidean distances truncated to one decimal.
SCALE = 10
#: Fleet for the Solomon 100-customer instances (the DIMACS rule); Gehring-Homberger use the file's.
SOLOMON_FLEET = 25


@dataclass(frozen=True)
class Instance:
    """A benchmark instance: the problem and the customer numbers as printed in the file."""

    name: str
    problem: Problem
    node_numbers: list[int]  # location index -> number in the file


def detect_format(path: Path) -> str:
    with open(path) as fh:
        head = fh.read(400)
    return (
        "vrplib"
        if ("NAME" in head and ":" in head and "SECTION" in open(path).read())
        else "solomon"
    )


def read_instance(
    path: str | Path, *, fmt: str | None = None, fleet: int | None = None
) -> Instance:
    """Read a VRPTW file (``fmt`` "vrplib" or "solomon", detected when None).

    Travel time and distance are ``floor(10 * euclid)``, windows and service times are scaled
    by 10, the objective is total distance: the DIMACS convention of ``bks_dist_only``.
    """
    import vrplib

    path = Path(path)
    if not path.exists():
        raise DataMissingError(f"instance file {path} does not exist")
    fmt = fmt or detect_format(path)
    if fmt not in ("vrplib", "solomon"):
        raise ValidationError(f"format {fmt!r}: use vrplib or solomon")
    try:
        data = vrplib.read_instance(str(path), instance_format=fmt, compute_edge_weights=False)
    except Exception as exc:  # vrplib raises plain errors on malformed files
        raise ValidationError(
            f"{path.name}: cannot read it as {fmt} ({exc}); try --format {'solomon' if fmt == 'vrplib' else 'vrplib'}"
        ) from None
    coords = np.asarray(data["node_coord"], dtype=np.float64)
    n = len(coords)
    diff = coords[:, None, :] - coords[None, :, :]
    matrix = np.floor(SCALE * np.sqrt((diff**2).sum(-1)) + 1e-9).astype(np.int64)
    tw = np.asarray(data["time_window"], dtype=np.int64) * SCALE
    service = data["service_time"]
    service = np.full(n, int(service)) if np.ndim(service) == 0 else np.asarray(service)
    service = np.asarray(service, dtype=np.int64) * SCALE
    demand = np.asarray(data["demand"], dtype=np.int64)
    if fmt == "vrplib":
        depot = int(np.asarray(data.get("depot", [0]))[0])
        numbers = list(range(1, n + 1))
        fleet = fleet or SOLOMON_FLEET
    else:
        depot = 0
        numbers = list(range(n))
        fleet = fleet or int(data["vehicles"])
    service[depot] = 0
    capacity = int(data["capacity"])
    teams = tuple(
        Team(
            id=f"v{k + 1}",
            start_location=depot,
            end_location=depot,
            shift_start_s=int(tw[depot, 0]),
            shift_end_s=int(tw[depot, 1]),
            capacity=capacity,
        )
        for k in range(fleet)
    )
    visits = tuple(
        Visit(
            id=str(numbers[i]),
            location=i,
            duration_s=int(service[i]),
            windows=(TimeWindow(int(tw[i, 0]), int(tw[i, 1])),),
            load=int(demand[i]),
        )
        for i in range(n)
        if i != depot
    )
    problem = Problem(
        teams=teams,
        visits=visits,
        travel_time_s={"car": matrix},
        distance_m={"car": matrix},
        objective="distance",
    )
    return Instance(name=str(data.get("name", path.stem)), problem=problem, node_numbers=numbers)


def plan_distance(problem: Problem, plan: Plan) -> float:
    """Total distance in instance units (integer matrix / 10), the DIMACS way, recomputed from
    the matrix (a route's own figures could claim anything)."""
    from dispatch.optimise.check import recomputed_distance_m

    return recomputed_distance_m(problem, plan) / SCALE


def load_bks(path: str | Path) -> dict[str, float]:
    """instance name (upper case) -> ``bks_dist_only`` from bks.csv."""
    out: dict[str, float] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            if row.get("bks_dist_only"):
                out[row["instance"].upper()] = float(row["bks_dist_only"])
    return out
