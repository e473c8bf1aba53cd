//! # fractal-client
//!
//! A client for the Fractal LBA server over the core's sans-I/O protocol
//! ([`fractal_core::protocol`]): the same request building, error mapping and
//! retry schedule as every other SDK, with reqwest (rustls) as the transport.
//! [`Client`] is async (tokio); [`blocking::Client`] blocks.
//!
//! ```no_run
//! # async fn run() -> Result<(), fractal_client::ClientError> {
//! use fractal_client::Client;
//! use fractal_core::{build_pcs, Algorithm, BuildInput};
//!
//! let client = Client::builder("http://127.0.0.1:8080")
//!     .tenant("default")
//!     .signing_key(Algorithm::Hmac, "tenant-secret")
//!     .build()?;
//! let pcs = build_pcs(&BuildInput::example())?;
//! let answer = client.submit(&pcs).await?;
//! println!("{} accepted={} dedup={}", answer.status, answer.result.accepted, answer.dedup_hit);
//! # Ok(()) }
//! ```

use std::time::Duration;

use fractal_core::protocol::{
    ClientConfig, HttpRequest, Step, Submission, get_request, health_request,
};
pub use fractal_core::protocol::{ClientError, RetryPolicy, SubmitResponse};
use fractal_core::{Algorithm, Error, Pcs, SigVersion, SigningKeyMaterial, VerifyResult};

/// Settings for [`Client`] and [`blocking::Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    tenant: Option<String>,
    key: Option<(Algorithm, String)>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    sdk: (String, String),
    jitter_seed: Option<u64>,
    signature_version: SigVersion,
}

impl ClientBuilder {
    fn new(base_url: &str) -> Self {
        ClientBuilder {
            base_url: base_url.to_string(),
            tenant: None,
            key: None,
            timeout: Duration::from_millis(fractal_core::protocol::DEFAULT_TIMEOUT_MS),
            connect_timeout: Duration::from_millis(fractal_core::protocol::DEFAULT_CONNECT_TIMEOUT_MS),
            retry: RetryPolicy::default(),
            sdk: ("rust".into(), env!("CARGO_PKG_VERSION").into()),
            jitter_seed: None,
            signature_version: SigVersion::V2,
        }
    }

    /// The tenant sent as `X-Tenant-Id` (the server's default is `default`).
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_string());
        self
    }

    /// Sign every submitted record, and every read (SPEC §6.1): an HMAC secret, or a
    /// base64 Ed25519 seed.
    pub fn signing_key(mut self, alg: Algorithm, key: &str) -> Self {
        self.key = Some((alg, key.to_string()));
        self
    }

    /// Timeout of one attempt, connection included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connection timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The payload submissions are signed over (SPEC §3): v2 by default, v1 only for
    /// a server or tenant that does not accept v2 yet.
    pub fn signature_version(mut self, version: SigVersion) -> Self {
        self.signature_version = version;
        self
    }

    /// Retry settings (default: 3 retries, 100 ms base, 5 s cap).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The SDK named in `User-Agent` (bindings set their own name and version).
    pub fn sdk(mut self, name: &str, version: &str) -> Self {
        self.sdk = (name.to_string(), version.to_string());
        self
    }

    /// A fixed jitter seed, so a test can predict the backoff schedule. By default
    /// each call draws one from the OS random source.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    fn parts(&self) -> Result<Parts, ClientError> {
        let mut cfg = ClientConfig::new(&self.base_url, &self.sdk.0, &self.sdk.1)?;
        if let Some(t) = &self.tenant {
            cfg = cfg.with_tenant(t)?;
        }
        cfg.retry = self.retry;
        cfg.signature_version = self.signature_version;
        let key = match &self.key {
            Some((alg, k)) => Some(SigningKeyMaterial::parse(*alg, k)?),
            None => None,
        };
        if self.timeout.is_zero() {
            return Err(Error::InvalidArgument {
                name: "timeout".into(),
                reason: "must be positive".into(),
            }
            .into());
        }
        // reqwest is built without a bundled crypto provider; use ring's. An error
        // only means a provider is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Parts {
            cfg,
            key,
            jitter_seed: self.jitter_seed,
        })
    }

    /// Builds the async client.
    pub fn build(self) -> Result<Client, ClientError> {
        let parts = self.parts()?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(parts.cfg.user_agent.clone())
            .build()
            .map_err(transport)?;
        Ok(Client { parts, http })
    }

    /// Builds the blocking client. Do not call it from inside an async runtime.
    pub fn build_blocking(self) -> Result<blocking::Client, ClientError> {
        let parts = self.parts()?;
        let http = reqwest::blocking::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(parts.cfg.user_agent.clone())
            .build()
            .map_err(transport)?;
        Ok(blocking::Client { parts, http })
    }
}

#[derive(Debug, Clone)]
struct Parts {
    cfg: ClientConfig,
    key: Option<SigningKeyMaterial>,
    jitter_seed: Option<u64>,
}

impl Parts {
    fn seed(&self) -> u64 {
        self.jitter_seed.unwrap_or_else(|| {
            let mut b = [0u8; 8];
            // Without OS randomness the schedule is merely predictable, not wrong.
            let _ = getrandom::fill(&mut b);
            u64::from_le_bytes(b)
        })
    }

    fn submit(&self, pcs: &Pcs) -> Result<Submission, ClientError> {
        Ok(Submission::new(
            &self.cfg,
            pcs,
            self.key.as_ref(),
            self.seed(),
        )?)
    }

    fn get(&self, pcs_id: &str) -> Result<Submission, ClientError> {
        Ok(Submission::for_request(
            &self.cfg,
            get_request(&self.cfg, pcs_id, self.key.as_ref(), fractal_core::protocol::unix_now())?,
            self.seed(),
        ))
    }

    fn health(&self) -> Submission {
        Submission::for_request(&self.cfg, health_request(&self.cfg), self.seed())
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    ClientError::Transport {
        reason: without_url(&e),
        timeout: e.is_timeout(),
    }
}

/// The error text with its chain, without the URL (it may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut msg = match text.find(" for url (") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Status, headers and body of one answer.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A protocol request in reqwest's terms, made once per call: every attempt
/// reuses it (the body is shared, not copied).
struct Prepared {
    method: reqwest::Method,
    url: String,
    headers: reqwest::header::HeaderMap,
    body: Option<bytes::Bytes>,
}

impl Prepared {
    fn new(req: &HttpRequest) -> Result<Prepared, ClientError> {
        use reqwest::header::{HeaderName, HeaderValue};
        let bad = |what: &str| -> ClientError {
            Error::InvalidArgument {
                name: "request".into(),
                reason: format!("{what} cannot be sent"),
            }
            .into()
        };
        let mut headers = reqwest::header::HeaderMap::with_capacity(req.headers.len());
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad("a header name"))?;
            let value = HeaderValue::from_str(v).map_err(|_| bad("a header value"))?;
            headers.append(name, value);
        }
        Ok(Prepared {
            method: req.method.parse().map_err(|_| bad("the method"))?,
            url: req.url.clone(),
            headers,
            body: (!req.body.is_empty()).then(|| bytes::Bytes::copy_from_slice(&req.body)),
        })
    }
}

fn headers_of(h: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

/// Turns a lookup's 404 into `None`.
fn found(r: Result<SubmitResponse, ClientError>) -> Result<Option<VerifyResult>, ClientError> {
    match r {
        Ok(resp) => Ok(Some(resp.result)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The async client (tokio). Cheap to clone; reuses connections.
#[derive(Debug, Clone)]
pub struct Client {
    parts: Parts,
    http: reqwest::Client,
}

impl Client {
    /// Starts configuring a client for `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder::new(base_url)
    }

    /// Validates, signs (when the client has a key) and submits a record,
    /// retrying per the protocol. Retrying is safe: submissions are idempotent.
    pub async fn submit(&self, pcs: &Pcs) -> Result<SubmitResponse, ClientError> {
        self.drive(self.parts.submit(pcs)?).await
    }

    /// The stored outcome of `pcs_id` for this client's tenant, `None` if none.
    pub async fn get(&self, pcs_id: &str) -> Result<Option<VerifyResult>, ClientError> {
        found(self.drive(self.parts.get(pcs_id)?).await)
    }

    /// Whether the server answers `GET /health` with 200.
    pub async fn health(&self) -> Result<bool, ClientError> {
        let req = self.parts.health();
        let resp = self
            .send(&Prepared::new(req.request())?)
            .await
            .map_err(transport)?;
        Ok(resp.0 == 200)
    }

    async fn send(&self, req: &Prepared) -> Result<Answer, reqwest::Error> {
        let mut rb = self
            .http
            .request(req.method.clone(), &req.url)
            .headers(req.headers.clone());
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        let body = resp.bytes().await?.to_vec();
        Ok((status, headers, body))
    }

    async fn drive(&self, mut sub: Submission) -> Result<SubmitResponse, ClientError> {
        let req = Prepared::new(sub.request())?;
        loop {
            let step = match self.send(&req).await {
                Ok((status, headers, body)) => sub.on_response(status, &headers, &body),
                Err(e) => sub.on_transport_error(&without_url(&e), e.is_timeout()),
            };
            match step {
                Step::Done(r) => return r,
                Step::Retry(d) => tokio::time::sleep(d).await,
            }
        }
    }
}

/// The blocking client.
pub mod blocking {
    use super::*;

    /// A blocking client over reqwest's blocking transport. Reuses connections;
    /// safe to share between threads.
    #[derive(Debug, Clone)]
    pub struct Client {
        pub(crate) parts: Parts,
        pub(crate) http: reqwest::blocking::Client,
    }

    impl Client {
        /// Starts configuring a client (finish with `build_blocking`).
        pub fn builder(base_url: &str) -> ClientBuilder {
            ClientBuilder::new(base_url)
        }

        /// See [`super::Client::submit`].
        pub fn submit(&self, pcs: &Pcs) -> Result<SubmitResponse, ClientError> {
            self.drive(self.parts.submit(pcs)?)
        }

        /// See [`super::Client::get`].
        pub fn get(&self, pcs_id: &str) -> Result<Option<VerifyResult>, ClientError> {
            found(self.drive(self.parts.get(pcs_id)?))
        }

        /// See [`super::Client::health`].
        pub fn health(&self) -> Result<bool, ClientError> {
            let req = self.parts.health();
            Ok(self
                .send(&Prepared::new(req.request())?)
                .map_err(transport)?
                .0
                == 200)
        }

        fn send(&self, req: &Prepared) -> Result<Answer, reqwest::Error> {
            let mut rb = self
                .http
                .request(req.method.clone(), &req.url)
                .headers(req.headers.clone());
            if let Some(body) = &req.body {
                rb = rb.body(body.clone());
            }
            let resp = rb.send()?;
            let status = resp.status().as_u16();
            let headers = headers_of(resp.headers());
            let body = resp.bytes()?.to_vec();
            Ok((status, headers, body))
        }

        fn drive(&self, mut sub: Submission) -> Result<SubmitResponse, ClientError> {
            let req = Prepared::new(sub.request())?;
            loop {
                let step = match self.send(&req) {
                    Ok((status, headers, body)) => sub.on_response(status, &headers, &body),
                    Err(e) => sub.on_transport_error(&without_url(&e), e.is_timeout()),
                };
                match step {
                    Step::Done(r) => return r,
                    Step::Retry(d) => std::thread::sleep(d),
                }
            }
        }
    }
}
