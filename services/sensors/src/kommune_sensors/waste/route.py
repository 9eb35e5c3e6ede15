"""The truck's route: the order of the stops from the depot and back, by OR-Tools' routing solver.

Distances are straight lines (haversine, whole metres): no road network is reachable offline,
and over a town's few kilometres the order they give is close to the road order. The solver
(``pywrapcp``, Google OR-Tools, see ADR 0021) starts from the cheapest-arc tour and improves it by
guided local search for a fixed number of solutions, not a wall-clock limit, so the same
containers give the same route on every machine and under any load.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.constraint_solver import (  # type: ignore[import-untyped]
    pywrapcp,
    routing_enums_pb2,
)

from kommune_sensors.waste.containers import Point

EARTH_RADIUS_M = 6_371_000.0
SOLUTION_LIMIT = 100
"""Solutions the local search may try: enough for a day's tour of a few dozen stops."""


def distance_m(a: Point, b: Point) -> int:
    """Great-circle distance in whole metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


@dataclass(frozen=True, slots=True)
class Route:
    order: list[int]
    """Indexes into the stops, in driving order (the depot is not among them)."""
    distance_m: int
    """From the depot through every stop and back."""


def tour_length(depot: Point, stops: Sequence[Point], order: Sequence[int]) -> int:
    path = [depot, *(stops[i] for i in order), depot]
    return sum(distance_m(a, b) for a, b in itertools.pairwise(path))


def plan_route(depot: Point, stops: Sequence[Point]) -> Route:
    """The shortest tour the solver finds from ``depot`` through all ``stops`` and back."""
    if len(stops) <= 1:
        trivial = list(range(len(stops)))
        return Route(trivial, tour_length(depot, stops, trivial))
    nodes = [depot, *stops]
    matrix = [[distance_m(a, b) for b in nodes] for a in nodes]
    manager = pywrapcp.RoutingIndexManager(len(nodes), 1, 0)
    routing = pywrapcp.RoutingModel(manager)

    # a matrix evaluated inside the solver (a Python callback per arc is 10x slower)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(matrix))
    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    parameters.solution_limit = SOLUTION_LIMIT
    solution = routing.SolveWithParameters(parameters)
    if solution is None:  # cannot happen for a plain tour; fail loudly rather than guess
        raise RuntimeError("the routing solver found no tour")
    order: list[int] = []
    index = routing.Start(0)
    while not routing.IsEnd(index):
        node = manager.IndexToNode(index)
        if node != 0:
            order.append(node - 1)
        index = solution.Value(routing.NextVar(index))
    return Route(order, tour_length(depot, stops, order))
