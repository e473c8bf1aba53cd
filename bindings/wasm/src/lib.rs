//! # fractal-wasm
//!
//! The Fractal LBA core compiled to WebAssembly for browsers. This crate is the
//! low-level boundary: records cross it as JSON text (parsed by the core's own
//! strict parser, exactly as the server parses a body), bytes as `Uint8Array`.
//! The public API, with the Node SDK's names and types, is the JavaScript
//! wrapper `js/index.js` (and `js/index.d.ts`) over these exports.
//!
//! Nothing here does I/O: the `Client` of the wrapper sends what
//! [`ClientCore`]'s calls build with `fetch` and feeds the answers back to the
//! core's sans-IO protocol, which decides about retries and errors.

#![forbid(unsafe_code)]

mod error;

use fractal_core::protocol::{
    ClientConfig, ClientError, HttpRequest, RetryPolicy, Step, Submission, SubmitResponse, get_request,
    health_request,
};
use fractal_core::{
    Algorithm, BuildInput, Ed25519Keypair, HmacSigner, MAX_SAFE_INTEGER, Pcs, Ring, ShardSpec, SigVersion,
    SignaturePolicy, SigningKeyMaterial, VerifyParams,
};
use wasm_bindgen::prelude::*;

use crate::error::{Js, arg};

type Res<T> = Result<T, JsValue>;

fn record(json: &[u8]) -> Res<Pcs> {
    Pcs::from_json(json).js()
}

fn params(json: Option<String>) -> Res<VerifyParams> {
    let Some(text) = json else { return Ok(VerifyParams::default()) };
    let p: VerifyParams =
        serde_json::from_str(&text).map_err(|e| arg("params", format!("not verification parameters: {e}")))?;
    p.check().js()?;
    Ok(p)
}

fn version(n: u32) -> Res<SigVersion> {
    SigVersion::from_number(i64::from(n)).js()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("the core's outputs always serialize")
}

/// A whole number in `0..=max` given as a number or a bigint.
fn uint(v: &JsValue, name: &str, max: u64) -> Res<u64> {
    let n = if let Some(f) = v.as_f64() {
        if f.fract() != 0.0 || !f.is_finite() || f < 0.0 {
            return Err(arg(name, "must be a whole number ≥ 0"));
        }
        f as u64
    } else if v.is_bigint() {
        u64::try_from(v.clone()).map_err(|_| arg(name, "must be a whole number ≥ 0 that fits 64 bits"))?
    } else {
        return Err(arg(name, "must be a number or a bigint"));
    };
    if n > max {
        return Err(arg(name, format!("must be at most {max}")));
    }
    Ok(n)
}

/// The version of the Rust core inside this module.
#[wasm_bindgen(js_name = coreVersion)]
pub fn core_version() -> String {
    fractal_core::VERSION.to_string()
}

/// Parses a record with the core's strict parser; returns it as wire JSON
/// (unknown fields kept, omitted optional fields left out).
#[wasm_bindgen(js_name = parsePcs)]
pub fn parse_pcs(json: &[u8]) -> Res<String> {
    Ok(String::from_utf8(record(json)?.to_json()).expect("the core writes UTF-8"))
}

/// Builds a complete, valid record from a `BuildInput` (JSON).
#[wasm_bindgen(js_name = buildPcs)]
pub fn build_pcs(input: &[u8], params_json: Option<String>) -> Res<String> {
    let input = BuildInput::from_json(input).js()?;
    let pcs = fractal_core::build_pcs_with(&input, &params(params_json)?).js()?;
    Ok(String::from_utf8(pcs.to_json()).expect("the core writes UTF-8"))
}

/// SDK-side validation (SPEC §1).
#[wasm_bindgen]
pub fn validate(json: &[u8]) -> Res<()> {
    fractal_core::validate(&record(json)?).js()
}

/// Verification (SPEC §5); returns the VerifyResult as JSON.
#[wasm_bindgen]
pub fn verify(json: &[u8], params_json: Option<String>) -> Res<String> {
    let p = params(params_json)?;
    Ok(to_json(&fractal_core::verify(&record(json)?, &p)))
}

/// `pcs_id` (SPEC §2).
#[wasm_bindgen(js_name = pcsId)]
pub fn pcs_id(merkle_root: &str, epoch: &JsValue, shard_id: &str) -> Res<String> {
    Ok(fractal_core::pcs_id(merkle_root, uint(epoch, "epoch", MAX_SAFE_INTEGER as u64)?, shard_id))
}

/// The canonical payload of `version` (1 or 2).
#[wasm_bindgen(js_name = canonicalPayload)]
pub fn canonical_payload(json: &[u8], version_n: u32) -> Res<Vec<u8>> {
    fractal_core::canonical_payload(&record(json)?, version(version_n)?).js()
}

/// What is signed under `version` (32 bytes).
#[wasm_bindgen]
pub fn digest(json: &[u8], version_n: u32) -> Res<Vec<u8>> {
    Ok(fractal_core::digest(&record(json)?, version(version_n)?).js()?.to_vec())
}

/// `sig` under an HMAC key (`v2:` + base64 for v2, plain base64 for v1).
#[wasm_bindgen(js_name = signHmac)]
pub fn sign_hmac(json: &[u8], key: &[u8], version_n: u32) -> Res<String> {
    let signer = HmacSigner::new(key).js()?;
    signer.sign_version(&record(json)?, version(version_n)?).js()
}

/// `sig` under an Ed25519 seed (base64 of 32 bytes).
#[wasm_bindgen(js_name = signEd25519)]
pub fn sign_ed25519(json: &[u8], seed: &str, version_n: u32) -> Res<String> {
    let kp = Ed25519Keypair::from_seed_b64(seed).js()?;
    kp.sign_version(&record(json)?, version(version_n)?).js()
}

/// The base64 public key of a base64 Ed25519 seed.
#[wasm_bindgen(js_name = ed25519PublicKey)]
pub fn ed25519_public_key(seed: &str) -> Res<String> {
    Ok(Ed25519Keypair::from_seed_b64(seed).js()?.public_b64())
}

/// A fresh key pair from `crypto.getRandomValues`: `[seed, publicKey]`.
#[wasm_bindgen(js_name = generateEd25519Keypair)]
pub fn generate_ed25519_keypair() -> Res<Vec<String>> {
    let kp = Ed25519Keypair::generate().js()?;
    Ok(vec![kp.seed_b64(), kp.public_b64()])
}

fn signing_key(alg: &str, key: &[u8]) -> Res<SigningKeyMaterial> {
    match Algorithm::parse(alg).js()? {
        Algorithm::Hmac => {
            HmacSigner::new(key).js()?;
            Ok(SigningKeyMaterial::Hmac(key.to_vec()))
        }
        a @ Algorithm::Ed25519 => {
            let seed = std::str::from_utf8(key).map_err(|_| arg("key", "an Ed25519 seed must be base64 text"))?;
            SigningKeyMaterial::parse(a, seed).js()
        }
    }
}

/// The digest a read signs (SPEC §6.1).
#[wasm_bindgen(js_name = readDigest)]
pub fn read_digest(tenant: &str, pcs_id: &str, t: &JsValue) -> Res<Vec<u8>> {
    Ok(fractal_core::read_digest(tenant, pcs_id, uint(t, "t", u64::MAX)?).to_vec())
}

/// The `Authorization` header of a read (SPEC §6.1).
#[wasm_bindgen(js_name = readAuthorization)]
pub fn read_authorization(tenant: &str, pcs_id: &str, t: &JsValue, alg: &str, key: &[u8]) -> Res<String> {
    let t = uint(t, "t", u64::MAX)?;
    signing_key(alg, key)?.read_authorization(tenant, pcs_id, t).js()
}

/// Holds verification keys and a signature policy.
#[wasm_bindgen]
pub struct Verifier {
    inner: fractal_core::Verifier,
}

#[wasm_bindgen]
impl Verifier {
    /// An empty verifier under the default policy (v2 only).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Verifier {
        Verifier { inner: fractal_core::Verifier::new() }
    }

    /// Sets the accepted versions (`v1`, `v2`) and legacy encodings
    /// (`seed-python`, `seed-go`).
    #[wasm_bindgen(js_name = setPolicy)]
    pub fn set_policy(&mut self, versions: Vec<String>, encodings: Vec<String>) -> Res<()> {
        let p = SignaturePolicy::parse(&versions, &encodings).js()?;
        self.inner.set_policy(p);
        Ok(())
    }

    /// The policy as JSON `{versions, acceptEncodings}`.
    #[wasm_bindgen(getter)]
    pub fn policy(&self) -> String {
        let p = self.inner.policy();
        let versions: Vec<&str> = p.versions.iter().map(|v| v.as_str()).collect();
        let encodings: Vec<&str> = p.encodings.iter().map(|e| e.as_str()).collect();
        to_json(&serde_json::json!({ "versions": versions, "acceptEncodings": encodings }))
    }

    /// Adds an HMAC key.
    #[wasm_bindgen(js_name = addHmacKey)]
    pub fn add_hmac_key(&mut self, key: &[u8]) -> Res<()> {
        self.inner.add_hmac_key(key).js().map(drop)
    }

    /// Adds an Ed25519 public key (base64).
    #[wasm_bindgen(js_name = addEd25519PublicKey)]
    pub fn add_ed25519_public_key(&mut self, public_key: &str) -> Res<()> {
        self.inner.add_ed25519_public_key(public_key).js().map(drop)
    }

    /// How many keys it holds.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Checks a record's `sig` under the policy.
    pub fn verify(&self, json: &[u8]) -> Res<()> {
        self.inner.verify(&record(json)?).js()
    }

    /// Checks a read's `Authorization` header (SPEC §6.1) at unix time `now`.
    #[wasm_bindgen(js_name = verifyRead)]
    pub fn verify_read(&self, tenant: &str, pcs_id: &str, authorization: Option<String>, now: &JsValue) -> Res<()> {
        let now = uint(now, "now", u64::MAX)?;
        self.inner.verify_read(tenant, pcs_id, authorization.as_deref(), now).js()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

/// The consistent-hash ring of SPEC §7.
#[wasm_bindgen(js_name = Ring)]
pub struct RingJs {
    inner: Ring,
}

#[wasm_bindgen(js_class = Ring)]
impl RingJs {
    /// An empty ring with `vnodes` points per unit of weight.
    #[wasm_bindgen(constructor)]
    pub fn new(vnodes: u32) -> Res<RingJs> {
        Ok(RingJs { inner: Ring::new(vnodes).js()? })
    }

    /// A ring holding `shards` (JSON array of `{name, weight?, healthy?}`).
    #[wasm_bindgen(js_name = withShards)]
    pub fn with_shards(shards_json: &str, vnodes: u32) -> Res<RingJs> {
        let shards: Vec<ShardSpec> =
            serde_json::from_str(shards_json).map_err(|e| arg("shards", format!("not a list of shards: {e}")))?;
        Ok(RingJs { inner: Ring::with_shards(vnodes, &shards).js()? })
    }

    /// Adds a healthy shard.
    #[wasm_bindgen(js_name = addShard)]
    pub fn add_shard(&mut self, name: &str, weight: u32) -> Res<()> {
        self.inner.add_shard(name, weight).js()
    }

    /// Removes a shard.
    #[wasm_bindgen(js_name = removeShard)]
    pub fn remove_shard(&mut self, name: &str) -> Res<()> {
        self.inner.remove_shard(name).js()
    }

    /// Marks a shard healthy or not.
    #[wasm_bindgen(js_name = setHealthy)]
    pub fn set_healthy(&mut self, name: &str, healthy: bool) -> Res<()> {
        self.inner.set_healthy(name, healthy).js()
    }

    /// The shard owning `key`.
    pub fn pick(&self, key: &[u8]) -> Res<String> {
        self.inner.pick(key).js().map(str::to_string)
    }

    /// `n` distinct healthy shards clockwise from `key`.
    #[wasm_bindgen(js_name = pickN)]
    pub fn pick_n(&self, key: &[u8], n: u32) -> Res<Vec<String>> {
        Ok(self.inner.pick_n(key, n as usize).js()?.into_iter().map(str::to_string).collect())
    }

    /// The keys whose owner differs between this ring and `after` (JSON).
    pub fn plan(&self, after: &RingJs, keys: Vec<String>) -> String {
        to_json(&self.inner.plan(&after.inner, keys.iter().map(String::as_str)))
    }

    /// The shards, sorted by name (JSON).
    pub fn shards(&self) -> String {
        to_json(&self.inner.shards())
    }

    /// Counts of shards, healthy shards and points (JSON).
    pub fn stats(&self) -> String {
        to_json(&self.inner.stats())
    }
}

/// A client's configuration and key; makes the calls a transport drives.
#[wasm_bindgen]
pub struct ClientCore {
    cfg: ClientConfig,
    key: Option<SigningKeyMaterial>,
}

#[wasm_bindgen]
impl ClientCore {
    /// Checks the options: base URL, tenant, algorithm and key (both or
    /// neither), retry settings (JSON of `RetryPolicy`), signature version.
    #[wasm_bindgen(constructor)]
    pub fn new(
        base_url: &str,
        tenant: Option<String>,
        alg: Option<String>,
        key: Option<Vec<u8>>,
        retry_json: Option<String>,
        signature_version: u32,
    ) -> Res<ClientCore> {
        let mut cfg = ClientConfig::new(base_url, "browser", env!("CARGO_PKG_VERSION")).js()?;
        if let Some(t) = tenant {
            cfg = cfg.with_tenant(&t).js()?;
        }
        if let Some(r) = retry_json {
            cfg.retry = serde_json::from_str::<RetryPolicy>(&r)
                .map_err(|e| arg("retry", format!("not retry settings: {e}")))?;
        }
        cfg.signature_version = version(signature_version)?;
        let key = match (alg, key) {
            (Some(a), Some(k)) => Some(signing_key(&a, &k)?),
            (None, None) => None,
            (Some(_), None) => return Err(arg("key", "is needed with alg")),
            (None, Some(_)) => return Err(arg("alg", "is needed with key")),
        };
        Ok(ClientCore { cfg, key })
    }

    fn seed(seed: Option<u64>) -> u64 {
        seed.unwrap_or_else(|| {
            let mut b = [0u8; 8];
            // crypto.getRandomValues; a fixed schedule if it ever fails.
            getrandom::fill(&mut b).map(|_| u64::from_le_bytes(b)).unwrap_or(0x5eed)
        })
    }

    /// A submit call: validates, signs when the client holds a key, serializes.
    pub fn submit(&self, json: &[u8], jitter_seed: Option<u64>) -> Res<Call> {
        let pcs = record(json)?;
        let sub = Submission::new(&self.cfg, &pcs, self.key.as_ref(), Self::seed(jitter_seed)).js()?;
        Ok(Call::new(sub))
    }

    /// A lookup call of `pcs_id`, its read signed at unix time `now` when the
    /// client holds a key (SPEC §6.1).
    pub fn get(&self, pcs_id: &str, now: &JsValue, jitter_seed: Option<u64>) -> Res<Call> {
        let now = uint(now, "now", u64::MAX)?;
        let req = get_request(&self.cfg, pcs_id, self.key.as_ref(), now).js()?;
        Ok(Call::new(Submission::for_request(&self.cfg, req, Self::seed(jitter_seed))))
    }

    /// A `GET /health` call.
    pub fn health(&self, jitter_seed: Option<u64>) -> Call {
        Call::new(Submission::for_request(&self.cfg, health_request(&self.cfg), Self::seed(jitter_seed)))
    }
}

/// One call with its retry state: the transport sends `method`/`url`/
/// `headers`/`body`, then reports the answer (or its failure) and is told to
/// wait and retry (a delay ≥ 0) or that the call is over (−1: read `finish`).
#[wasm_bindgen]
pub struct Call {
    sub: Submission,
    done: Option<Result<SubmitResponse, ClientError>>,
}

/// The success of a call, with the Node SDK's field names.
#[derive(serde::Serialize)]
struct Outcome<'a> {
    status: u16,
    result: &'a fractal_core::VerifyResult,
    #[serde(rename = "dedupHit")]
    dedup_hit: bool,
}

impl Call {
    fn new(sub: Submission) -> Call {
        Call { sub, done: None }
    }

    fn req(&self) -> &HttpRequest {
        self.sub.request()
    }

    fn step(&mut self, step: Step) -> f64 {
        match step {
            Step::Retry(d) => d.as_millis() as f64,
            Step::Done(r) => {
                self.done = Some(r);
                -1.0
            }
        }
    }
}

#[wasm_bindgen]
impl Call {
    /// `GET` or `POST`.
    #[wasm_bindgen(getter)]
    pub fn method(&self) -> String {
        self.req().method.to_string()
    }

    /// The full URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.req().url.clone()
    }

    /// Headers as `[name, value, name, value, …]`.
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> Vec<String> {
        self.req().headers.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()
    }

    /// The body (empty for GET).
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> Vec<u8> {
        self.req().body.clone()
    }

    /// Retries taken so far.
    #[wasm_bindgen(getter)]
    pub fn retries(&self) -> u32 {
        self.sub.retries()
    }

    /// Feeds an answer (headers as `[name, value, …]`); returns the delay in
    /// milliseconds before the next attempt, or −1 when the call is over.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(&mut self, status: u16, headers: Vec<String>, body: &[u8]) -> f64 {
        let pairs: Vec<(String, String)> =
            headers.chunks_exact(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect();
        let step = self.sub.on_response(status, &pairs, body);
        self.step(step)
    }

    /// Feeds a transport failure; returns as `onResponse` does.
    #[wasm_bindgen(js_name = onTransportError)]
    pub fn on_transport_error(&mut self, reason: &str, timeout: bool) -> f64 {
        let step = self.sub.on_transport_error(reason, timeout);
        self.step(step)
    }

    /// The outcome of a finished call as JSON `{status, result, dedupHit}`;
    /// throws its typed error otherwise.
    pub fn finish(&mut self) -> Res<String> {
        match self.done.take() {
            Some(Ok(r)) => Ok(to_json(&Outcome { status: r.status, result: &r.result, dedup_hit: r.dedup_hit })),
            Some(Err(e)) => Err(error::client(&e)),
            None => Err(arg("call", "is not finished")),
        }
    }
}
