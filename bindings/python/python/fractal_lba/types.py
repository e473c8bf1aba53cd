"""Typed shapes of the plain dicts that cross the SDK boundary.

Records are ordinary ``dict``s (JSON objects); these ``TypedDict``s only describe
them for type checkers. They cost nothing at run time.
"""

from __future__ import annotations

from typing import Dict, List, Optional, TypedDict

__all__ = ["PCS", "FaultTolerance", "VerifyResult", "ShardSpec", "Move", "RingStats"]


class FaultTolerance(TypedDict, total=False):
    """Optional fault-tolerance metadata of a record (``ft``)."""

    outbox_seq: int
    degraded: bool
    fallbacks: List[str]
    clock_skew_ms: int


class _PCSRequired(TypedDict):
    pcs_id: str
    schema: str
    version: str
    shard_id: str
    epoch: int
    coh_star: float
    D_hat: float
    r: float
    budget: float
    merkle_root: str


class PCS(_PCSRequired, total=False):
    """A Proof-of-Computation Summary (SPEC §1).

    Required: ``pcs_id``, ``schema``, ``version``, ``shard_id``, ``epoch``,
    ``coh_star``, ``D_hat``, ``r``, ``budget``, ``merkle_root``. Integers are
    ``int`` (never ``bool`` or an integral ``float``); numbers are ``float`` or
    ``int``. Unknown keys are kept and signed by v2: their values must be JSON
    values (None, bool, int, float, str, list, dict with str keys).
    """

    attempt: int
    sent_at: str
    seed: int
    scales: List[int]
    N_j: Dict[str, int]
    v_star: List[float]
    regime: str
    sig: str
    ft: FaultTolerance


class _VerifyResultRequired(TypedDict):
    accepted: bool
    escalated: bool


class VerifyResult(_VerifyResultRequired, total=False):
    """The outcome of verification (SPEC §5)."""

    recomputed_D_hat: float
    recomputed_budget: float
    reason: str


class _ShardSpecRequired(TypedDict):
    name: str


class ShardSpec(_ShardSpecRequired, total=False):
    """A shard of a :class:`~fractal_lba.Ring`: ``weight`` defaults to 1, ``healthy`` to True."""

    weight: int
    healthy: bool


# ``from`` is a keyword, so this one uses the functional syntax.
Move = TypedDict("Move", {"key": str, "from": Optional[str], "to": Optional[str]})
Move.__doc__ = "A key whose owner changes between two rings (``Ring.plan``)."


class RingStats(TypedDict):
    """Counts of a :class:`~fractal_lba.Ring`."""

    shards: int
    healthy_shards: int
    points: int
    vnodes: int
