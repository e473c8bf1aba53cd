"""`examples/submit.py` runs against a scripted server, and the README shows it as
it is; with the `fractal` binary built (`FRACTAL_BIN`, set by `make test-python`,
default `target/release/fractal`), the example and both clients also run against
the real server, including its signature checks."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import fractal_lba as fl
from conftest import OK_BODY, Answer, Scripted

PY_DIR = Path(__file__).resolve().parent.parent
EXAMPLE = PY_DIR / "examples" / "submit.py"
README = PY_DIR / "README.md"
FRACTAL = Path(os.environ.get("FRACTAL_BIN", PY_DIR.parent.parent / "target" / "release" / "fractal"))
Start = Callable[[list[Answer]], Scripted]


def run_example(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), url], capture_output=True, text=True,
                          timeout=60, check=False)


def test_example_against_a_scripted_server(scripted: Start) -> None:
    srv = scripted([Answer(200, OK_BODY), Answer(200, OK_BODY, {"X-Dedup": "hit"}), Answer(200, OK_BODY)])
    proc = run_example(srv.url)
    assert proc.returncode == 0, proc.stderr
    assert "dedup_hit=True" in proc.stdout
    submit, again, get = srv.requests()
    assert submit.body == again.body
    assert submit.headers["x-tenant-id"] == "default"
    sent = json.loads(submit.body)
    fl.Verifier(hmac_keys=["tenant-secret"]).verify(sent)
    assert (get.method, get.path) == ("GET", f"/v1/pcs/{sent['pcs_id']}")


def test_example_explains_an_unreachable_server() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_example(f"http://127.0.0.1:{port}")
    assert proc.returncode == 1
    assert "make run" in proc.stderr


def test_readme_shows_the_example_as_it_is() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Submitting records", 1)[1].split("\n## ", 1)[0]
    shown = re.findall(r"```py\n(.*?)```", section, flags=re.S)
    assert shown and shown[0] == EXAMPLE.read_text(encoding="utf-8")


# --- the real server ----------------------------------------------------------

needs_server = pytest.mark.skipif(not FRACTAL.is_file(), reason=f"{FRACTAL} not built (make build)")


class RealServer:
    def __init__(self, url: str, seed: str) -> None:
        self.url, self.seed = url, seed


@pytest.fixture(scope="module")
def real_server() -> Iterator[RealServer]:
    seed, public = fl.generate_ed25519_keypair()
    with tempfile.TemporaryDirectory(prefix="fractal-py-") as tmp:
        cfg = Path(tmp) / "fractal.toml"
        cfg.write_text(f"""
listen = "127.0.0.1:0"
data_dir = "{tmp}/data"
signature_policy = "none"

[[tenants]]
id = "default"
algorithm = "none"

[[tenants]]
id = "hmac-tenant"
algorithm = "hmac"
keys = ["py-secret"]

[[tenants]]
id = "ed-tenant"
algorithm = "ed25519"
keys = ["{public}"]

[[tenants]]
id = "migrating"
algorithm = "hmac"
keys = ["py-secret"]
signature_versions = ["v1", "v2"]
""")
        proc = subprocess.Popen([str(FRACTAL), "serve", "--config", str(cfg)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            url = None
            deadline = time.monotonic() + 30
            while url is None and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"listening on (http://\S+)", line)
                url = m.group(1) if m else None
            assert url, "fractal serve did not report its address"
            out = proc.stdout
            threading.Thread(target=lambda: [None for _ in out], daemon=True).start()
            yield RealServer(url, seed)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def fresh(tag: str) -> dict[str, Any]:
    import hashlib

    root = hashlib.sha256(f"{tag}-{time.time_ns()}".encode()).hexdigest()
    return dict(fl.build_pcs(merkle_root=root, epoch=3, shard_id="py", scales=[2, 4, 8, 16],
                             N_j={"2": 3, "4": 6, "8": 11, "16": 20}, coh_star=0.8, r=0.6))


@needs_server
def test_example_against_the_real_server(real_server: RealServer) -> None:
    proc = run_example(real_server.url)
    assert proc.returncode == 0, proc.stderr
    assert "HTTP 200" in proc.stdout and "dedup_hit=True" in proc.stdout


@needs_server
@pytest.mark.parametrize("alg", ["hmac", "ed25519"])
def test_clients_against_the_real_server(real_server: RealServer, alg: str) -> None:
    tenant, key = ("hmac-tenant", "py-secret") if alg == "hmac" else ("ed-tenant", real_server.seed)
    rec = fresh(alg)
    client = fl.Client(real_server.url, tenant=tenant, alg=alg, key=key)
    assert client.health() is True
    first = client.submit(rec)
    assert (first.status, first.dedup_hit) == (200, False)
    assert first.result == fl.verify(rec)

    async def again() -> tuple[fl.SubmitResult, Any]:
        aclient = fl.AsyncClient(real_server.url, tenant=tenant, alg=alg, key=key)
        return await aclient.submit(rec), await aclient.get(rec["pcs_id"])

    second, stored = asyncio.run(again())
    assert (second.status, second.dedup_hit, second.result) == (200, True, first.result)
    assert stored == first.result
    assert fl.Client(real_server.url).get(rec["pcs_id"]) is None  # another tenant
    # Reads are authenticated (SPEC §6.1): without a key, or with a wrong one, refused.
    with pytest.raises(fl.ServerSignatureError) as e:
        fl.Client(real_server.url, tenant=tenant).get(rec["pcs_id"])
    assert (e.value.status, e.value.code) == (401, "signature_missing")
    # The tenant accepts v2 only: a v1 signature is refused by its version.
    with pytest.raises(fl.ServerSignatureError) as e:
        fl.Client(real_server.url, tenant=tenant, alg=alg, key=key, signature_version=1).submit(fresh("v1"))
    assert (e.value.status, e.value.code) == (401, "unsupported_signature_version")
    # v2 signs unknown fields; the server accepts them as sent.
    extra = dict(fresh("extra"), zz_meta={"run": 7, "tags": ["a", None]})
    assert client.submit(extra).status == 200
    # A wrong key is refused by the server (401), never retried.
    wrong = "not-the-secret" if alg == "hmac" else fl.generate_ed25519_keypair()[0]
    with pytest.raises(fl.ServerSignatureError) as e:
        fl.Client(real_server.url, tenant=tenant, alg=alg, key=wrong).submit(fresh("wrong"))
    assert (e.value.status, e.value.code) == (401, "signature_invalid")
    # So is an unsigned record.
    with pytest.raises(fl.ServerSignatureError) as e:
        fl.Client(real_server.url, tenant=tenant).submit(fresh("unsigned"))
    assert e.value.code == "signature_missing"


@needs_server
def test_a_migrating_tenant_takes_v1_and_v2(real_server: RealServer) -> None:
    for version in (1, 2):
        rec = fresh(f"migrating-v{version}")
        client = fl.Client(real_server.url, tenant="migrating", alg="hmac", key="py-secret", signature_version=version)
        assert client.submit(rec).status == 200
        assert client.get(rec["pcs_id"]) == fl.verify(rec)
    # A record signed (v2) by hand, sent as is, is accepted as well.
    rec = fresh("by-hand")
    rec["sig"] = fl.sign_hmac(rec, "py-secret")
    assert fl.Client(real_server.url, tenant="migrating").submit(rec).status == 200


@needs_server
def test_unknown_tenant_is_an_api_error(real_server: RealServer) -> None:
    with pytest.raises(fl.ApiError) as e:
        fl.Client(real_server.url, tenant="nobody").submit(fresh("nobody"))
    assert (e.value.status, e.value.code) == (403, "unknown_tenant")
