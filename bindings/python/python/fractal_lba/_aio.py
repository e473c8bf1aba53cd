"""``AsyncClient``: the asyncio face of :class:`fractal_lba.Client`.

The requests run on the extension's tokio runtime, never on the event loop's
thread; each method is a coroutine that awaits the native call. Cancelling the
task (``asyncio.wait_for``, ``Task.cancel``) drops the request in flight.
"""

from __future__ import annotations

import atexit
import time
from typing import Any, Awaitable, Literal, Mapping, Optional, TypeVar

from ._native import SubmitResult, _AsyncClient
from .types import VerifyResult

__all__ = ["AsyncClient"]

_T = TypeVar("_T")
_calls_made = False


def _let_runtime_settle() -> None:
    # A native call hands its result to the event loop from a tokio thread, which
    # then drops its references to the loop and the future while holding the GIL.
    # If the interpreter finalizes in that instant, the thread crashes the process
    # (seen as SIGSEGV/SIGABRT at exit in about 1 run in 12). atexit runs before
    # finalization: releasing the GIL briefly lets such a thread finish first.
    if _calls_made:
        time.sleep(0.05)


atexit.register(_let_runtime_settle)


async def _native_call(call: Awaitable[_T]) -> _T:
    global _calls_made
    _calls_made = True
    return await call


class AsyncClient:
    """An asyncio client of the Fractal LBA server, with the arguments, retries and
    errors of :class:`fractal_lba.Client`; ``submit``, ``get`` and ``health`` are
    coroutines.

    >>> async def main() -> None:
    ...     client = AsyncClient("http://127.0.0.1:8080", alg="hmac", key="s3cret")
    ...     answer = await client.submit(record)
    ...     print(answer.status, answer.result["accepted"])
    """

    __slots__ = ("_native",)

    def __init__(
        self,
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
        signature_version: Literal[1, 2] = 2,
    ) -> None:
        self._native = _AsyncClient(
            base_url,
            tenant=tenant,
            alg=alg,
            key=key,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
            base_delay=base_delay,
            max_delay=max_delay,
            max_retry_after=max_retry_after,
            jitter_seed=jitter_seed,
            signature_version=signature_version,
        )

    async def submit(self, record: Mapping[str, Any]) -> SubmitResult:
        """Validates (ValidationError, nothing sent), signs when the client has a key,
        and submits the record; see :meth:`fractal_lba.Client.submit`."""
        return await _native_call(self._native.submit(record))

    async def get(self, pcs_id: str) -> Optional[VerifyResult]:
        """The stored VerifyResult of ``pcs_id`` for the client's tenant, or None;
        signed (SPEC §6.1) when the client has a key."""
        return await _native_call(self._native.get(pcs_id))

    async def health(self) -> bool:
        """Whether the server answers ``GET /health`` with 200."""
        return await _native_call(self._native.health())

    def __repr__(self) -> str:
        return repr(self._native)
