"""Type stubs of the compiled extension ``fractal_lba._native`` (kept honest by mypy.stubtest)."""

from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Literal, Mapping, Optional, Tuple, Union, final

from .types import PCS, FaultTolerance, Move, RingStats, ShardSpec, VerifyResult

__all__ = [
    "ApiError",
    "CORE_VERSION",
    "Client",
    "ClientTimeoutError",
    "FractalError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "MAX_ENTRIES",
    "MAX_EPOCH",
    "READ_SKEW_SECS",
    "RateLimitedError",
    "Ring",
    "RingError",
    "SCHEMA",
    "ServerSignatureError",
    "ServerValidationError",
    "SignatureError",
    "SubmitResult",
    "TransportError",
    "UnsupportedSignatureVersionError",
    "ValidationError",
    "Verifier",
    "_AsyncClient",
    "VerifyParams",
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

__version__: str
CORE_VERSION: str
SCHEMA: str
MAX_EPOCH: int
MAX_ENTRIES: int
READ_SKEW_SECS: int

_Key = Union[str, bytes, bytearray]
_Record = Mapping[str, Any]
_SigVersion = Literal[1, 2]

class FractalError(Exception):
    """Base class of every error raised by fractal_lba."""

    kind: str
    field: Optional[str]
    status: Optional[int]
    code: Optional[str]

class ValidationError(FractalError):
    """A record is malformed or fails SDK validation."""

class SignatureError(FractalError):
    """A signature is missing or does not verify."""

class UnsupportedSignatureVersionError(SignatureError):
    """The signature's payload version is outside the verifier's policy."""

class InvalidKeyError(FractalError):
    """A key cannot be used."""

class RingError(FractalError):
    """A consistent-hash ring operation failed."""

class InvalidArgumentError(FractalError):
    """An argument that is not a record field is invalid."""

class ServerValidationError(ValidationError):
    """The server refused the record as malformed (400, 413, 415; kind ``invalid``)."""

class ServerSignatureError(SignatureError):
    """The server refused the signature (401; kind ``signature``)."""

    status: int

class RateLimitedError(FractalError):
    """Still 429 after every retry (kind ``rate_limited``)."""

    status: int
    retry_after: Optional[float]

class ApiError(FractalError):
    """Any other error answer of the server (kind ``api``)."""

    body: str

class TransportError(FractalError):
    """The request could not be completed (kind ``transport``)."""

class ClientTimeoutError(TransportError, TimeoutError):
    """An attempt timed out, after every retry (kind ``timeout``)."""

def pcs_id(merkle_root: str, epoch: int, shard_id: str) -> str:
    """``lowercase_hex(sha256(merkle_root + "|" + str(epoch) + "|" + shard_id))``."""

def canonical_payload(record: _Record, *, version: _SigVersion = 2) -> bytes:
    """The signing payload of ``version`` (SPEC §3): v2 covers the whole record but
    ``sig``, ``attempt``, ``sent_at`` and ``ft``; v1 only the eight v1 fields."""

def digest(record: _Record, *, version: _SigVersion = 2) -> bytes:
    """The 32-byte digest a signature of ``version`` covers."""

def sign_hmac(record: _Record, key: _Key, *, version: _SigVersion = 2) -> str:
    """HMAC-SHA256 signature: ``"v2:" + base64`` (v2), or plain base64 (``version=1``)."""

def sign_hmac_many(records: Iterable[_Record], key: _Key, *, version: _SigVersion = 2) -> list[str]:
    """``sign_hmac`` over many records: read under the GIL, signed without it.

    A malformed record raises ValidationError naming its index."""

def sign_ed25519(record: _Record, seed_b64: str, *, version: _SigVersion = 2) -> str:
    """Ed25519 signature: ``"v2:" + base64`` (v2), or plain base64 (``version=1``)."""

def read_digest(tenant: str, pcs_id: str, t: int) -> bytes:
    """The digest a read request signs (SPEC §6.1)."""

def sign_read_hmac(tenant: str, pcs_id: str, key: _Key, *, t: Optional[int] = None) -> str:
    """The ``Authorization`` value of a read (SPEC §6.1), HMAC-signed at ``t`` (default now)."""

def sign_read_ed25519(tenant: str, pcs_id: str, seed_b64: str, *, t: Optional[int] = None) -> str:
    """The ``Authorization`` value of a read (SPEC §6.1), Ed25519-signed at ``t`` (default now)."""

def generate_ed25519_keypair() -> Tuple[str, str]:
    """A fresh key pair as ``(seed_b64, public_b64)``."""

def ed25519_public_key(seed_b64: str) -> str:
    """The public key (base64) of a private seed (base64)."""

def validate(record: _Record) -> None:
    """SDK-side validation of the whole record; raises ValidationError naming the field."""

def verify(record: _Record, params: Optional[VerifyParams] = None) -> VerifyResult:
    """The verification outcome of a record (SPEC §5)."""

def verify_many(records: Iterable[_Record], params: Optional[VerifyParams] = None) -> list[VerifyResult]:
    """``verify`` over many records, without holding the GIL."""

def build_pcs(
    *,
    merkle_root: str,
    epoch: int,
    shard_id: str,
    scales: Sequence[int],
    N_j: Mapping[str, int],
    coh_star: float,
    r: float,
    v_star: Optional[Sequence[float]] = None,
    version: Optional[str] = None,
    attempt: Optional[int] = None,
    sent_at: Optional[str] = None,
    seed: Optional[int] = None,
    ft: Optional[FaultTolerance] = None,
    params: Optional[VerifyParams] = None,
) -> PCS:
    """A complete, valid, unsigned record built from measurements."""

def parse_pcs(data: Union[str, bytes, bytearray]) -> PCS:
    """Strictly parses a record from JSON text or bytes."""

@final
class VerifyParams:
    """Verification parameters (SPEC §5); every argument defaults to the contract's value."""

    def __new__(
        cls,
        *,
        tol_d: Optional[float] = None,
        tol_coh: Optional[float] = None,
        alpha: Optional[float] = None,
        beta: Optional[float] = None,
        gamma: Optional[float] = None,
        base: Optional[float] = None,
        d0: Optional[float] = None,
        budget_tol: Optional[float] = None,
    ) -> VerifyParams: ...
    @property
    def tol_d(self) -> float: ...
    @property
    def tol_coh(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def beta(self) -> float: ...
    @property
    def gamma(self) -> float: ...
    @property
    def base(self) -> float: ...
    @property
    def d0(self) -> float: ...
    @property
    def budget_tol(self) -> float: ...
    def to_dict(self) -> dict[str, float]:
        """The parameters as a dict with the wire names."""

@final
class Verifier:
    """Checks record signatures against several keys (valid under any of them)."""

    def __new__(
        cls,
        *,
        hmac_keys: Optional[Sequence[_Key]] = None,
        ed25519_public_keys: Optional[Sequence[str]] = None,
        versions: Optional[Iterable[Union[_SigVersion, Literal["v1", "v2"]]]] = None,
        accept_encodings: Optional[Iterable[Literal["seed-python", "seed-go"]]] = None,
    ) -> Verifier: ...
    @property
    def versions(self) -> Tuple[int, ...]:
        """The accepted signature versions (default ``(2,)``)."""
    @property
    def accept_encodings(self) -> Tuple[str, ...]:
        """The accepted legacy v1 encodings of SPEC §4.1 (default ``()``)."""
    def add_hmac_key(self, key: _Key) -> None:
        """Adds an HMAC-SHA256 secret."""
    def add_ed25519_public_key(self, public_b64: str) -> None:
        """Adds an Ed25519 public key (standard base64 of 32 bytes)."""
    def verify(self, record: _Record) -> None:
        """Returns None if the signature verifies under the policy; raises
        SignatureError (UnsupportedSignatureVersionError for a version outside it)."""
    def verify_many(self, records: Iterable[_Record]) -> list[bool]:
        """One bool per record: read under the GIL, checked without it."""
    def verify_read(
        self, tenant: str, pcs_id: str, authorization: Optional[str], *, now: Optional[int] = None
    ) -> None:
        """Checks a read's ``Authorization`` value (SPEC §6.1); raises SignatureError."""
    def __len__(self) -> int: ...

@final
class Ring:
    """A consistent-hash ring of shards (SPEC §7)."""

    def __new__(
        cls,
        shards: Optional[Sequence[Union[str, ShardSpec]]] = None,
        *,
        vnodes: Optional[int] = None,
    ) -> Ring: ...
    def add_shard(self, name: str, weight: Optional[int] = None) -> None:
        """Adds a healthy shard."""
    def remove_shard(self, name: str) -> None:
        """Removes a shard."""
    def set_healthy(self, name: str, healthy: bool) -> None:
        """Marks a shard healthy or not."""
    def pick(self, key: Union[str, bytes, bytearray]) -> str:
        """The healthy shard that owns ``key``."""
    def pick_n(self, key: Union[str, bytes, bytearray], n: int) -> list[str]:
        """``n`` distinct healthy shards clockwise from ``key``."""
    def plan(self, after: Ring, keys: Sequence[str]) -> list[Move]:
        """The keys whose owner differs between this ring and ``after``."""
    def shards(self) -> list[ShardSpec]:
        """The shards, sorted by name."""
    def stats(self) -> RingStats:
        """Counts of shards, healthy shards, points and vnodes."""
    def __len__(self) -> int: ...

@final
class SubmitResult:
    """The answer to a submit: ``status`` (200 or 202), ``result``, ``dedup_hit``."""

    @property
    def status(self) -> int: ...
    @property
    def result(self) -> VerifyResult: ...
    @property
    def dedup_hit(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]:
        """``{"status": ..., "result": {...}, "dedup_hit": ...}``."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class Client:
    """A blocking client of the Fractal LBA server (releases the GIL while it waits)."""

    def __new__(
        cls,
        base_url: str,
        *,
        tenant: Optional[str] = None,
        alg: Optional[str] = None,
        key: Optional[str] = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        max_retry_after: float = 60.0,
        jitter_seed: Optional[int] = None,
        signature_version: _SigVersion = 2,
    ) -> Client: ...
    def submit(self, record: _Record) -> SubmitResult:
        """Validates, signs (with the client's key) and submits a record."""
    def get(self, pcs_id: str) -> Optional[VerifyResult]:
        """The stored VerifyResult of ``pcs_id``, or None; signed (SPEC §6.1) with the client's key."""
    def health(self) -> bool:
        """Whether ``GET /health`` answers 200."""

@final
class _AsyncClient:
    """The native half of ``fractal_lba.AsyncClient``."""

    def __new__(
        cls,
        base_url: str,
        *,
        tenant: Optional[str] = None,
        alg: Optional[str] = None,
        key: Optional[str] = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        max_retry_after: float = 60.0,
        jitter_seed: Optional[int] = None,
        signature_version: _SigVersion = 2,
    ) -> _AsyncClient: ...
    def submit(self, record: _Record) -> Awaitable[SubmitResult]: ...
    def get(self, pcs_id: str) -> Awaitable[Optional[VerifyResult]]: ...
    def health(self) -> Awaitable[bool]: ...
