//! `Client` (blocking) and `_AsyncClient` (asyncio; wrapped by the pure-Python
//! `fractal_lba.AsyncClient`): the Rust client crate `fractal-client`, which
//! drives the core's sans-I/O protocol (request building, error mapping, retry
//! schedule) over reqwest.
//!
//! The blocking client releases the GIL for the whole call, sleeps between
//! retries included. The async client runs its calls on the tokio runtime of
//! pyo3-async-runtimes; cancelling the awaitable drops the Rust future, which
//! aborts the request in flight.

use std::time::Duration;

use fractal_client::{ClientBuilder, RetryPolicy, SubmitResponse, blocking};
use fractal_core::protocol::{DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, millis};
use fractal_core::{Algorithm, Error, VerifyResult};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::convert::{pcs_from_py, sig_version, verify_result_to_py};
use crate::error::{CoreResultExt as _, raise_client};

/// The answer to a submit: `status` (200 accepted, 202 escalated or not
/// accepted), `result` (the VerifyResult dict) and `dedup_hit` (the server
/// answered from its dedup store: the record had been submitted before).
#[pyclass(frozen, eq, module = "fractal_lba", name = "SubmitResult")]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PySubmitResult {
    status: u16,
    result: VerifyResult,
    dedup_hit: bool,
}

impl From<SubmitResponse> for PySubmitResult {
    fn from(r: SubmitResponse) -> Self {
        PySubmitResult {
            status: r.status,
            result: r.result,
            dedup_hit: r.dedup_hit,
        }
    }
}

#[pymethods]
impl PySubmitResult {
    /// The HTTP status: 200 or 202.
    #[getter]
    fn status(&self) -> u16 {
        self.status
    }

    /// The stored outcome (a fresh VerifyResult dict on every access).
    #[getter]
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        verify_result_to_py(py, &self.result)
    }

    /// Whether the server answered from its dedup store (`X-Dedup: hit`).
    #[getter]
    fn dedup_hit(&self) -> bool {
        self.dedup_hit
    }

    /// `{"status": …, "result": {…}, "dedup_hit": …}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("status", self.status)?;
        d.set_item("result", self.result(py)?)?;
        d.set_item("dedup_hit", self.dedup_hit)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SubmitResult(status={}, result={}, dedup_hit={})",
            self.status,
            self.result(py)?.repr()?,
            if self.dedup_hit { "True" } else { "False" }
        ))
    }
}

fn arg(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name: name.to_string(),
        reason: reason.into(),
    }
}

fn arg_str(obj: &Bound<'_, PyAny>, name: &str) -> Result<String, Error> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| arg(name, "must be a str"))?;
    s.to_cow()
        .map(|c| c.into_owned())
        .map_err(|_| arg(name, "is not valid Unicode"))
}

fn opt_str(obj: Option<&Bound<'_, PyAny>>, name: &str) -> Result<Option<String>, Error> {
    obj.filter(|o| !o.is_none())
        .map(|o| arg_str(o, name))
        .transpose()
}

/// Seconds (an int or a float, not a bool), finite and at least 0 (`> 0` when
/// `positive`); `None` (or absent) is `default`.
fn seconds(
    obj: Option<&Bound<'_, PyAny>>,
    name: &str,
    positive: bool,
    default_ms: u64,
) -> Result<Duration, Error> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Duration::from_millis(default_ms));
    };
    let is_number = (obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>())
        && !obj.is_instance_of::<PyBool>();
    let secs: f64 = if is_number {
        obj.extract()
            .map_err(|_| arg(name, "must be a number of seconds"))?
    } else {
        return Err(arg(name, "must be a number of seconds (int or float)"));
    };
    if !secs.is_finite() || secs < 0.0 || (positive && secs == 0.0) {
        let bound = if positive { "> 0" } else { ">= 0" };
        return Err(arg(name, format!("must be finite and {bound} seconds")));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| arg(name, "is too large"))
}

/// An `int` (not a bool) in `0 ..= max`.
fn int(obj: &Bound<'_, PyAny>, name: &str, max: u64) -> Result<u64, Error> {
    if !obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyBool>() {
        return Err(arg(name, "must be an int"));
    }
    obj.extract::<u64>()
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| arg(name, format!("must be an int between 0 and {max}")))
}

/// The constructor arguments shared by `Client` and `_AsyncClient`, as given
/// (`None` meaning the default), checked one by one with errors naming them.
pub(crate) struct Options<'a, 'py> {
    base_url: &'a Bound<'py, PyAny>,
    tenant: Option<&'a Bound<'py, PyAny>>,
    alg: Option<&'a Bound<'py, PyAny>>,
    key: Option<&'a Bound<'py, PyAny>>,
    timeout: Option<&'a Bound<'py, PyAny>>,
    connect_timeout: Option<&'a Bound<'py, PyAny>>,
    max_retries: Option<&'a Bound<'py, PyAny>>,
    base_delay: Option<&'a Bound<'py, PyAny>>,
    max_delay: Option<&'a Bound<'py, PyAny>>,
    max_retry_after: Option<&'a Bound<'py, PyAny>>,
    jitter_seed: Option<&'a Bound<'py, PyAny>>,
    signature_version: Option<&'a Bound<'py, PyAny>>,
}

/// The `#[pymethods]` of a client class: the constructor, whose signature both
/// classes share, then the class's own methods.
macro_rules! client_methods {
    ($class:ident, $($methods:tt)*) => {
        #[pymethods]
        impl $class {
        #[new]
        #[pyo3(
            signature = (base_url, *, tenant=None, alg=None, key=None, timeout=None, connect_timeout=None, max_retries=None, base_delay=None, max_delay=None, max_retry_after=None, jitter_seed=None, signature_version=None),
            text_signature = "(base_url, *, tenant=None, alg=None, key=None, timeout=10.0, connect_timeout=5.0, max_retries=3, base_delay=0.1, max_delay=5.0, max_retry_after=60.0, jitter_seed=None, signature_version=2)"
        )]
        #[allow(clippy::too_many_arguments)]
        fn new(
            py: Python<'_>,
            base_url: &Bound<'_, PyAny>,
            tenant: Option<&Bound<'_, PyAny>>,
            alg: Option<&Bound<'_, PyAny>>,
            key: Option<&Bound<'_, PyAny>>,
            timeout: Option<&Bound<'_, PyAny>>,
            connect_timeout: Option<&Bound<'_, PyAny>>,
            max_retries: Option<&Bound<'_, PyAny>>,
            base_delay: Option<&Bound<'_, PyAny>>,
            max_delay: Option<&Bound<'_, PyAny>>,
            max_retry_after: Option<&Bound<'_, PyAny>>,
            jitter_seed: Option<&Bound<'_, PyAny>>,
            signature_version: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<Self> {
            $class::build(
                py,
                Options {
                    base_url,
                    tenant,
                    alg,
                    key,
                    timeout,
                    connect_timeout,
                    max_retries,
                    base_delay,
                    max_delay,
                    max_retry_after,
                    jitter_seed,
                    signature_version,
                },
            )
        }

        $($methods)*
        }
    };
}

/// What a client remembers for its `repr` (never the key).
struct Describe {
    base_url: String,
    tenant: Option<String>,
}

impl Describe {
    fn repr(&self, class: &str) -> String {
        match &self.tenant {
            Some(t) => format!("{class}({:?}, tenant={t:?})", self.base_url),
            None => format!("{class}({:?})", self.base_url),
        }
    }
}

fn builder(o: &Options<'_, '_>) -> Result<(ClientBuilder, Describe), Error> {
    let base_url = arg_str(o.base_url, "base_url")?;
    // Every default is the core's; Python spells the durations in seconds.
    let d = RetryPolicy::default();
    let max_retries = match o.max_retries.filter(|m| !m.is_none()) {
        Some(m) => int(m, "max_retries", u32::MAX.into())? as u32,
        None => d.max_retries,
    };
    let mut b = blocking::Client::builder(&base_url)
        .sdk("python", env!("CARGO_PKG_VERSION"))
        .timeout(seconds(o.timeout, "timeout", true, DEFAULT_TIMEOUT_MS)?)
        .connect_timeout(seconds(o.connect_timeout, "connect_timeout", true, DEFAULT_CONNECT_TIMEOUT_MS)?)
        .retry(RetryPolicy {
            max_retries,
            base_delay_ms: millis(seconds(o.base_delay, "base_delay", false, d.base_delay_ms)?),
            max_delay_ms: millis(seconds(o.max_delay, "max_delay", false, d.max_delay_ms)?),
            max_retry_after_ms: millis(seconds(o.max_retry_after, "max_retry_after", false, d.max_retry_after_ms)?),
        });
    let tenant = opt_str(o.tenant, "tenant")?;
    if let Some(t) = &tenant {
        b = b.tenant(t);
    }
    let (alg, key) = (o.alg, o.key);
    match (opt_str(alg, "alg")?, opt_str(key, "key")?) {
        (Some(alg), Some(key)) => b = b.signing_key(Algorithm::parse(&alg)?, &key),
        (None, None) => {}
        (Some(_), None) => return Err(arg("key", "is required when `alg` is given")),
        (None, Some(_)) => {
            return Err(arg(
                "alg",
                "is required when `key` is given (\"hmac\" or \"ed25519\")",
            ));
        }
    }
    if let Some(seed) = o.jitter_seed.filter(|s| !s.is_none()) {
        b = b.jitter_seed(int(seed, "jitter_seed", u64::MAX)?);
    }
    let version =
        sig_version(o.signature_version.filter(|v| !v.is_none())).map_err(|e| match e {
            Error::InvalidArgument { reason, .. } => arg("signature_version", reason),
            other => other,
        })?;
    b = b.signature_version(version);
    Ok((b, Describe { base_url, tenant }))
}

fn found_to_py(py: Python<'_>, found: Option<VerifyResult>) -> PyResult<Py<PyAny>> {
    match found {
        Some(r) => Ok(verify_result_to_py(py, &r)?.into_any().unbind()),
        None => Ok(py.None()),
    }
}

/// A blocking client of the Fractal LBA server.
///
/// `Client(base_url, *, tenant=None, alg=None, key=None, timeout=10.0,
/// connect_timeout=5.0, max_retries=3, base_delay=0.1, max_delay=5.0,
/// max_retry_after=60.0, jitter_seed=None, signature_version=2)`. With `alg`
/// ("hmac" or "ed25519") and `key` (the HMAC secret, or the base64 Ed25519 seed)
/// every submitted record is signed, over the payload of `signature_version`
/// (2; 1 only for a server or tenant that does not accept v2 yet), and every
/// `get` carries a read signature (SPEC §6.1). Times are in seconds; `timeout`
/// bounds each attempt.
/// Failed attempts (429, 503 and other 5xx, transport errors) are retried up to
/// `max_retries` times with exponential backoff and full jitter (`base_delay`
/// doubling, capped at `max_delay`), honouring `Retry-After` up to
/// `max_retry_after`; 400 and 401 never are (submissions are idempotent by
/// `pcs_id`, so a retry never stores twice).
///
/// Methods release the GIL while the request runs, retries included, and the
/// client reuses its connections: share one between threads.
///
/// Example: `Client("http://127.0.0.1:8080", alg="hmac", key="s3cret").submit(rec)`
/// returns a SubmitResult or raises a FractalError subclass.
#[pyclass(frozen, module = "fractal_lba", name = "Client")]
pub(crate) struct PyClient {
    inner: blocking::Client,
    describe: Describe,
}

impl PyClient {
    fn build(py: Python<'_>, o: Options<'_, '_>) -> PyResult<Self> {
        let (b, describe) = builder(&o).or_raise(py)?;
        // Building starts reqwest's I/O thread; no Python object is touched.
        let inner = py
            .detach(|| b.build_blocking())
            .map_err(|e| raise_client(py, e))?;
        Ok(PyClient { inner, describe })
    }
}

client_methods! {
    PyClient,

    /// Validates the record (ValidationError, nothing sent), signs it when the
    /// client has a key, and submits it. Returns a SubmitResult; raises
    /// ServerValidationError (400), ServerSignatureError (401), RateLimitedError,
    /// ApiError, TransportError or ClientTimeoutError.
    fn submit(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<PySubmitResult> {
        let pcs = pcs_from_py(record).or_raise(py)?;
        py.detach(|| self.inner.submit(&pcs))
            .map(PySubmitResult::from)
            .map_err(|e| raise_client(py, e))
    }

    /// The stored VerifyResult of `pcs_id` for the client's tenant, or None (404).
    /// With a key, the request is signed (SPEC §6.1: `Authorization: Fractal t=…,
    /// sig=…` for the client's tenant, or `default`); a tenant that demands it
    /// answers ServerSignatureError without.
    fn get(&self, py: Python<'_>, pcs_id: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let pcs_id = arg_str(pcs_id, "pcs_id").or_raise(py)?;
        let found = py
            .detach(|| self.inner.get(&pcs_id))
            .map_err(|e| raise_client(py, e))?;
        found_to_py(py, found)
    }

    /// Whether the server answers `GET /health` with 200 (one attempt, no
    /// retry); raises TransportError or ClientTimeoutError when it cannot be reached.
    fn health(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| self.inner.health())
            .map_err(|e| raise_client(py, e))
    }

    fn __repr__(&self) -> String {
        self.describe.repr("Client")
    }
}

/// The native half of `fractal_lba.AsyncClient` (use that): the same calls as
/// `Client`, returning awaitables that run on a tokio runtime.
#[pyclass(frozen, module = "fractal_lba._native", name = "_AsyncClient")]
pub(crate) struct PyAsyncClient {
    inner: fractal_client::Client,
    describe: Describe,
}

impl PyAsyncClient {
    fn build(py: Python<'_>, o: Options<'_, '_>) -> PyResult<Self> {
        let (b, describe) = builder(&o).or_raise(py)?;
        let inner = b.build().map_err(|e| raise_client(py, e))?;
        Ok(PyAsyncClient { inner, describe })
    }
}

client_methods! {
    PyAsyncClient,

    /// An awaitable of `Client.submit`. The record is validated (and a bad one
    /// raises) before the awaitable is returned.
    fn submit<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let pcs = pcs_from_py(record).or_raise(py)?;
        let client = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let out = client.submit(&pcs).await;
            Python::attach(|py| out.map(PySubmitResult::from).map_err(|e| raise_client(py, e)))
        })
    }

    /// An awaitable of `Client.get`.
    fn get<'py>(&self, py: Python<'py>, pcs_id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let pcs_id = arg_str(pcs_id, "pcs_id").or_raise(py)?;
        let client = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let out = client.get(&pcs_id).await;
            Python::attach(|py| found_to_py(py, out.map_err(|e| raise_client(py, e))?))
        })
    }

    /// An awaitable of `Client.health`.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let out = client.health().await;
            Python::attach(|py| out.map_err(|e| raise_client(py, e)))
        })
    }

    fn __repr__(&self) -> String {
        self.describe.repr("AsyncClient")
    }
}
