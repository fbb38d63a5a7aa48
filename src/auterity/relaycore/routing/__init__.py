"""Routing policies: which deployments may serve a request, and in which order."""

from auterity.relaycore.routing.difficulty import DifficultyScorer, HeuristicScorer
from auterity.relaycore.routing.latency import LatencyTracker
from auterity.relaycore.routing.router import Needs, RouteDecision, Router

__all__ = [
    "DifficultyScorer",
    "HeuristicScorer",
    "LatencyTracker",
    "Needs",
    "RouteDecision",
    "Router",
]
