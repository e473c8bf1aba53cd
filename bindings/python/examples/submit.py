"""Build, sign and submit a record to a Fractal LBA server, then read it back.

Start the reference server from the repository root with `make run` (it listens on
http://127.0.0.1:8080 with tenant `default` and no signature required), then:

    python bindings/python/examples/submit.py [URL]
"""

import hashlib
import sys
import time

import fractal_lba as fl

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"

# A new merkle root on every run, so the first submit is never a duplicate.
merkle_root = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()
record = fl.build_pcs(
    merkle_root=merkle_root, epoch=1, shard_id="shard-001",
    scales=[2, 4, 8, 16, 32], N_j={"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
    coh_star=0.73, r=0.87,
)

# The client signs every record it submits (HMAC here; alg="ed25519" takes a base64
# seed) with a v2 signature over the whole record (signature_version=1 for a server
# that accepts only v1), signs its reads (get), retries 429/503 and transport
# errors, and raises typed errors.
client = fl.Client(url, tenant="default", alg="hmac", key="tenant-secret", timeout=5.0)
try:
    answer = client.submit(record)
except fl.TransportError as e:  # ClientTimeoutError is one too
    sys.exit(f"cannot reach {url} ({e.kind}): is the server running (make run)?")
except fl.FractalError as e:  # ServerValidationError, ServerSignatureError, ApiError, ...
    sys.exit(f"refused: {type(e).__name__} {e.status} {e.code}: {e}")
print(f"submitted {record['pcs_id']}: HTTP {answer.status} {answer.result}")

# Submitting is idempotent: the same record again is answered from the dedup store.
again = client.submit(record)
print(f"again: HTTP {again.status}, dedup_hit={again.dedup_hit}")

print("stored:", client.get(record["pcs_id"]))
