//! Signatures over the canonical digest (SPEC §4): HMAC-SHA256 and Ed25519, strict
//! base64, constant-time comparison and several keys per verifier for rotation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::canonical::{SigVersion, SigningFields, canonical_fields, digest, sha256};
use crate::error::{Error, Result};
use crate::legacy::LegacyEncoding;
use crate::model::Pcs;

/// The prefix of a v2 `sig` (SPEC §4).
pub const V2_PREFIX: &str = "v2:";

/// The `sig` text of a MAC for `version`: base64, behind `v2:` for v2.
pub fn format_sig(version: SigVersion, mac_b64: String) -> String {
    match version {
        SigVersion::V1 => mac_b64,
        SigVersion::V2 => format!("{V2_PREFIX}{mac_b64}"),
    }
}

/// The version and MAC of a record's `sig` if `policy` accepts that version:
/// no or an empty `sig` is [`Error::SignatureMissing`] (an empty string is how
/// several hosts spell "unset").
fn admit<'s>(sig: Option<&'s str>, policy: &SignaturePolicy) -> Result<(SigVersion, &'s str)> {
    let sig = match sig {
        Some(s) if !s.is_empty() => s,
        _ => return Err(Error::SignatureMissing),
    };
    let (version, mac) = split_sig(sig)?;
    if !policy.accepts(version) {
        return Err(Error::UnsupportedSignatureVersion { version: version.as_str().into() });
    }
    Ok((version, mac))
}

/// Splits a `sig` into the payload version it names and its base64 MAC.
///
/// A `vN:` prefix other than `v2:` is [`Error::UnsupportedSignatureVersion`].
///
/// ```
/// use fractal_core::{SigVersion, sign::split_sig};
/// assert_eq!(split_sig("v2:AAAA").unwrap(), (SigVersion::V2, "AAAA"));
/// assert_eq!(split_sig("AAAA").unwrap(), (SigVersion::V1, "AAAA"));
/// assert_eq!(split_sig("v3:AAAA").unwrap_err().kind(), "unsupported_signature_version");
/// ```
pub fn split_sig(sig: &str) -> Result<(SigVersion, &str)> {
    if let Some(rest) = sig.strip_prefix(V2_PREFIX) {
        return Ok((SigVersion::V2, rest));
    }
    if let Some((tag, _)) = sig.split_once(':')
        && tag.len() > 1
        && tag.starts_with('v')
        && tag[1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Error::UnsupportedSignatureVersion { version: tag.chars().take(8).collect() });
    }
    Ok((SigVersion::V1, sig))
}

type HmacSha256 = Hmac<Sha256>;

/// A signature algorithm of SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA256 keyed by the UTF-8 bytes of a shared secret.
    Hmac,
    /// Ed25519 (RFC 8032, pure) over the digest.
    Ed25519,
}

impl Algorithm {
    /// `hmac` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hmac => "hmac",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    /// Parses `hmac` or `ed25519`.
    pub fn parse(s: &str) -> Result<Algorithm> {
        match s {
            "hmac" => Ok(Algorithm::Hmac),
            "ed25519" => Ok(Algorithm::Ed25519),
            _ => Err(Error::arg("alg", "must be \"hmac\" or \"ed25519\"")),
        }
    }
}

/// Standard base64 with padding (RFC 4648).
pub fn b64encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Strict standard base64: rejects whitespace, the URL-safe alphabet, missing
/// padding and non-canonical trailing bits.
pub fn b64decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

fn hmac_mac(key: &[u8]) -> Result<HmacSha256> {
    if key.is_empty() {
        return Err(Error::key("HMAC key must not be empty"));
    }
    Ok(<HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length"))
}

/// `base64(HMAC-SHA256(key, digest))`.
///
/// ```
/// let sig = fractal_core::sign_hmac_digest(&[0u8; 32], b"secret").unwrap();
/// assert_eq!(sig.len(), 44);
/// ```
pub fn sign_hmac_digest(digest: &[u8; 32], key: &[u8]) -> Result<String> {
    let mut mac = hmac_mac(key)?;
    mac.update(digest);
    Ok(b64encode(&mac.finalize().into_bytes()))
}

/// Signs a record with HMAC-SHA256 over the v2 payload (SPEC §3.2, §4):
/// `v2:` + base64 of the MAC. See [`sign_hmac_version`] for v1.
///
/// ```
/// use fractal_core::*;
/// let pcs = build_pcs(&BuildInput::example()).unwrap();
/// assert!(sign_hmac(&pcs, b"secret").unwrap().starts_with("v2:"));
/// ```
pub fn sign_hmac(pcs: &Pcs, key: &[u8]) -> Result<String> {
    sign_hmac_version(pcs, key, SigVersion::V2)
}

/// Signs a record with HMAC-SHA256 over the payload of `version`.
pub fn sign_hmac_version(pcs: &Pcs, key: &[u8], version: SigVersion) -> Result<String> {
    Ok(format_sig(version, sign_hmac_digest(&digest(pcs, version)?, key)?))
}

/// An HMAC-SHA256 signing key with its keyed state computed once, for signing
/// many records under one key (the per-record cost is then only the message
/// blocks). Cheap to clone, safe to share between threads.
///
/// ```
/// use fractal_core::{HmacSigner, sign_hmac_digest};
/// let signer = HmacSigner::new(b"secret").unwrap();
/// let d = [1u8; 32];
/// assert_eq!(signer.sign_digest(&d), sign_hmac_digest(&d, b"secret").unwrap());
/// ```
#[derive(Clone)]
pub struct HmacSigner {
    mac: HmacSha256,
}

impl std::fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, not even its derived state.
        f.debug_struct("HmacSigner").finish_non_exhaustive()
    }
}

impl HmacSigner {
    /// A signer for the key's bytes (an empty key is refused).
    pub fn new(key: &[u8]) -> Result<HmacSigner> {
        Ok(HmacSigner { mac: hmac_mac(key)? })
    }

    /// `base64(HMAC-SHA256(key, digest))`.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> String {
        let mut mac = self.mac.clone();
        mac.update(digest);
        b64encode(&mac.finalize().into_bytes())
    }

    /// Signs a record over the v2 payload: `v2:` + base64 of the MAC.
    pub fn sign(&self, pcs: &Pcs) -> Result<String> {
        self.sign_version(pcs, SigVersion::V2)
    }

    /// Signs a record over the payload of `version`.
    pub fn sign_version(&self, pcs: &Pcs, version: SigVersion) -> Result<String> {
        Ok(format_sig(version, self.sign_digest(&digest(pcs, version)?)))
    }
}

/// An Ed25519 key pair, carried as base64 of the 32-byte seed and public key.
#[derive(Clone)]
pub struct Ed25519Keypair {
    key: SigningKey,
}

impl std::fmt::Debug for Ed25519Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private seed.
        f.debug_struct("Ed25519Keypair").field("public", &self.public_b64()).finish_non_exhaustive()
    }
}

impl Ed25519Keypair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::key(format!("no randomness available: {e}")))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key pair of a 32-byte private seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Ed25519Keypair { key: SigningKey::from_bytes(seed) }
    }

    /// The key pair of a base64 32-byte private seed.
    pub fn from_seed_b64(seed_b64: &str) -> Result<Self> {
        let seed = b64decode(seed_b64).ok_or_else(|| Error::key("Ed25519 seed is not standard base64"))?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::key("Ed25519 seed must decode to 32 bytes"))?;
        Ok(Self::from_seed(&seed))
    }

    /// Base64 of the 32-byte private seed. Treat as a secret.
    pub fn seed_b64(&self) -> String {
        b64encode(&self.key.to_bytes())
    }

    /// Base64 of the 32-byte public key.
    pub fn public_b64(&self) -> String {
        b64encode(self.key.verifying_key().as_bytes())
    }

    /// The 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The Ed25519 signature of `message` (the audit seals of SPEC §11 sign a
    /// domain-separated message, not a record digest).
    pub fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// `base64(Ed25519-sign(seed, digest))`.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> String {
        b64encode(&self.key.sign(digest).to_bytes())
    }

    /// Signs a record over the v2 payload: `v2:` + base64 of the signature.
    pub fn sign(&self, pcs: &Pcs) -> Result<String> {
        self.sign_version(pcs, SigVersion::V2)
    }

    /// Signs a record over the payload of `version`.
    pub fn sign_version(&self, pcs: &Pcs, version: SigVersion) -> Result<String> {
        Ok(format_sig(version, self.sign_digest(&digest(pcs, version)?)))
    }
}

/// Signs a record with Ed25519 given the base64 private seed, over the v2 payload.
pub fn sign_ed25519(pcs: &Pcs, seed_b64: &str) -> Result<String> {
    sign_ed25519_version(pcs, seed_b64, SigVersion::V2)
}

/// Signs a record with Ed25519 over the payload of `version`.
pub fn sign_ed25519_version(pcs: &Pcs, seed_b64: &str, version: SigVersion) -> Result<String> {
    Ed25519Keypair::from_seed_b64(seed_b64)?.sign_version(pcs, version)
}

/// A signing key of either algorithm.
#[derive(Clone, Debug)]
pub enum SigningKeyMaterial {
    /// An HMAC shared secret (its UTF-8 bytes).
    Hmac(Vec<u8>),
    /// An Ed25519 private key.
    Ed25519(Ed25519Keypair),
}

impl SigningKeyMaterial {
    /// Reads a key as it travels: the HMAC secret string, or the base64 Ed25519 seed.
    pub fn parse(alg: Algorithm, key: &str) -> Result<Self> {
        match alg {
            Algorithm::Hmac => {
                hmac_mac(key.as_bytes())?;
                Ok(SigningKeyMaterial::Hmac(key.as_bytes().to_vec()))
            }
            Algorithm::Ed25519 => Ok(SigningKeyMaterial::Ed25519(Ed25519Keypair::from_seed_b64(key)?)),
        }
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKeyMaterial::Hmac(_) => Algorithm::Hmac,
            SigningKeyMaterial::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Signs a digest.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<String> {
        match self {
            SigningKeyMaterial::Hmac(k) => sign_hmac_digest(digest, k),
            SigningKeyMaterial::Ed25519(kp) => Ok(kp.sign_digest(digest)),
        }
    }

    /// Signs a record over the payload of `version`.
    pub fn sign_version(&self, pcs: &Pcs, version: SigVersion) -> Result<String> {
        Ok(format_sig(version, self.sign_digest(&digest(pcs, version)?)?))
    }

    /// Signs a record (v2) and stores the signature in its `sig` field.
    pub fn sign_in_place(&self, pcs: &mut Pcs) -> Result<()> {
        self.sign_in_place_version(pcs, SigVersion::V2)
    }

    /// Signs a record over the payload of `version` and stores the signature in `sig`.
    pub fn sign_in_place_version(&self, pcs: &mut Pcs, version: SigVersion) -> Result<()> {
        pcs.sig = Some(self.sign_version(pcs, version)?);
        Ok(())
    }

    /// The `Authorization` header value of a read (SPEC §6.1) at unix time `t`.
    pub fn read_authorization(&self, tenant: &str, pcs_id: &str, t: u64) -> Result<String> {
        let sig = self.sign_digest(&read_digest(tenant, pcs_id, t))?;
        Ok(format!("Fractal t={t}, sig={sig}"))
    }
}

/// The digest a read request signs (SPEC §6.1):
/// `SHA-256("fractal-lba/read/v1\n" ‖ tenant ‖ "\n" ‖ pcs_id ‖ "\n" ‖ t)`.
pub fn read_digest(tenant: &str, pcs_id: &str, t: u64) -> [u8; 32] {
    let mut msg = Vec::with_capacity(32 + tenant.len() + pcs_id.len());
    msg.extend_from_slice(b"fractal-lba/read/v1\n");
    msg.extend_from_slice(tenant.as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice(pcs_id.as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice(t.to_string().as_bytes());
    sha256(&msg)
}

/// How far a read's `t` may lie from the server's clock (SPEC §6.1): 300 s.
pub const READ_SKEW_SECS: u64 = 300;

/// Splits `Fractal t=<unix seconds>, sig=<base64>` into `(t, sig)`.
///
/// ```
/// let (t, sig) = fractal_core::sign::parse_read_authorization("Fractal t=17, sig=AAAA").unwrap();
/// assert_eq!((t, sig), (17, "AAAA"));
/// ```
pub fn parse_read_authorization(value: &str) -> Result<(u64, &str)> {
    let bad = || Error::sig("Authorization must be `Fractal t=<unix seconds>, sig=<base64>`");
    let (scheme, params) = value.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("fractal") {
        return Err(bad());
    }
    let (mut t, mut sig) = (None, None);
    for part in params.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(bad)?;
        let slot = match k.trim() {
            "t" => &mut t,
            "sig" => &mut sig,
            _ => return Err(bad()),
        };
        if slot.replace(v.trim()).is_some() {
            return Err(bad());
        }
    }
    let t = t.filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit())).ok_or_else(bad)?;
    Ok((t.parse().map_err(|_| bad())?, sig.ok_or_else(bad)?))
}

mod verifier;
pub use verifier::{SignaturePolicy, Verifier};
