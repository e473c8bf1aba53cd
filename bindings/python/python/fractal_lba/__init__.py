"""Fractal LBA for Python: build, sign and verify Proof-of-Computation Summaries.

Every byte comes from the Rust core (``fractal-core``), so a record signed here
verifies on the server and in every other SDK. Records are plain ``dict``s
(described by :class:`fractal_lba.types.PCS`).

>>> import fractal_lba as fl
>>> rec = fl.build_pcs(merkle_root="a" * 64, epoch=1, shard_id="shard-001",
...                    scales=[2, 4, 8, 16, 32],
...                    N_j={"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
...                    coh_star=0.73, r=0.87)
>>> rec["sig"] = fl.sign_hmac(rec, "tenant-secret")   # "v2:..." (version=1 for old servers)
>>> fl.Verifier(hmac_keys=["tenant-secret"]).verify(rec)
>>> fl.verify(rec)["accepted"]
True

Submitting to a server: :class:`Client` (blocking) and :class:`AsyncClient`
(asyncio), e.g. ``fl.Client("http://127.0.0.1:8080", alg="hmac",
key="tenant-secret").submit(rec)``.
"""

from ._aio import AsyncClient
from ._native import (
    CORE_VERSION,
    MAX_ENTRIES,
    MAX_EPOCH,
    READ_SKEW_SECS,
    SCHEMA,
    ApiError,
    Client,
    ClientTimeoutError,
    FractalError,
    InvalidArgumentError,
    InvalidKeyError,
    RateLimitedError,
    Ring,
    RingError,
    ServerSignatureError,
    ServerValidationError,
    SignatureError,
    SubmitResult,
    TransportError,
    UnsupportedSignatureVersionError,
    ValidationError,
    Verifier,
    VerifyParams,
    __version__,
    build_pcs,
    canonical_payload,
    digest,
    ed25519_public_key,
    generate_ed25519_keypair,
    parse_pcs,
    pcs_id,
    read_digest,
    sign_ed25519,
    sign_hmac,
    sign_hmac_many,
    sign_read_ed25519,
    sign_read_hmac,
    validate,
    verify,
    verify_many,
)
from .types import PCS, FaultTolerance, Move, RingStats, ShardSpec, VerifyResult

__all__ = [
    "CORE_VERSION",
    "MAX_ENTRIES",
    "MAX_EPOCH",
    "READ_SKEW_SECS",
    "SCHEMA",
    "ApiError",
    "AsyncClient",
    "Client",
    "ClientTimeoutError",
    "FaultTolerance",
    "FractalError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "Move",
    "PCS",
    "RateLimitedError",
    "Ring",
    "RingError",
    "RingStats",
    "ServerSignatureError",
    "ServerValidationError",
    "ShardSpec",
    "SignatureError",
    "SubmitResult",
    "TransportError",
    "UnsupportedSignatureVersionError",
    "ValidationError",
    "Verifier",
    "VerifyParams",
    "VerifyResult",
    "__version__",
    "build_pcs",
    "canonical_payload",
    "digest",
    "ed25519_public_key",
    "generate_ed25519_keypair",
    "parse_pcs",
    "pcs_id",
    "read_digest",
    "sign_ed25519",
    "sign_hmac",
    "sign_hmac_many",
    "sign_read_ed25519",
    "sign_read_hmac",
    "validate",
    "verify",
    "verify_many",
]
