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

/// Which signatures a verifier accepts (SPEC §4, §4.1): payload versions, and the
/// seed's encodings of v1 tried after the canonical one fails.
///
/// The default accepts v2 only, as the SPEC sets for new tenants.
///
/// ```
/// use fractal_core::{LegacyEncoding, SignaturePolicy, SigVersion};
/// let p = SignaturePolicy::parse(&["v1", "v2"], &["seed-python"]).unwrap();
/// assert!(p.accepts(SigVersion::V1) && p.encodings.contains(&LegacyEncoding::SeedPython));
/// assert!(!SignaturePolicy::default().accepts(SigVersion::V1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Accepted payload versions.
    pub versions: Vec<SigVersion>,
    /// The seed's v1 encodings also accepted (only meaningful with v1).
    pub encodings: Vec<LegacyEncoding>,
}

impl Default for SignaturePolicy {
    fn default() -> Self {
        SignaturePolicy { versions: vec![SigVersion::V2], encodings: Vec::new() }
    }
}

impl SignaturePolicy {
    /// Both versions, no legacy encoding.
    pub fn any_version() -> Self {
        SignaturePolicy { versions: vec![SigVersion::V1, SigVersion::V2], encodings: Vec::new() }
    }

    /// From names: versions `v1`/`v2` (at least one), encodings `seed-python`/`seed-go`.
    pub fn parse<S: AsRef<str>, T: AsRef<str>>(versions: &[S], encodings: &[T]) -> Result<Self> {
        let mut p = SignaturePolicy { versions: Vec::new(), encodings: Vec::new() };
        for v in versions {
            let v: SigVersion = v.as_ref().parse().map_err(|_| {
                Error::arg("signature_versions", format!("unknown signature version {:?} (v1, v2)", v.as_ref()))
            })?;
            if !p.versions.contains(&v) {
                p.versions.push(v);
            }
        }
        if p.versions.is_empty() {
            return Err(Error::arg("signature_versions", "must list at least one of v1, v2"));
        }
        for e in encodings {
            let e: LegacyEncoding = e.as_ref().parse()?;
            if !p.encodings.contains(&e) {
                p.encodings.push(e);
            }
        }
        p.versions.sort();
        p.encodings.sort();
        Ok(p)
    }

    /// Whether signatures over `version`'s payload are accepted.
    pub fn accepts(&self, version: SigVersion) -> bool {
        self.versions.contains(&version)
    }
}

#[derive(Clone)]
enum VerifierKey {
    /// The keyed MAC state, precomputed so each check costs only the message blocks.
    Hmac(HmacSha256),
    Ed25519(VerifyingKey),
}

/// Checks signatures under one or more keys (rotation: any key may match).
///
/// Cheap to clone and safe to share between threads.
///
/// ```
/// use fractal_core::{Verifier, sign_hmac_digest};
/// let mut v = Verifier::new();
/// v.add_hmac_key(b"old-secret").unwrap();
/// v.add_hmac_key(b"new-secret").unwrap();
/// let d = [7u8; 32];
/// v.verify_digest(&d, &sign_hmac_digest(&d, b"new-secret").unwrap()).unwrap();
/// assert!(v.verify_digest(&d, &sign_hmac_digest(&d, b"other").unwrap()).is_err());
/// ```
#[derive(Clone, Default)]
pub struct Verifier {
    keys: Vec<VerifierKey>,
    policy: SignaturePolicy,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("keys", &self.keys.len()).field("policy", &self.policy).finish()
    }
}

impl Verifier {
    /// A verifier with no keys (it rejects every signature until one is added)
    /// and the default policy (v2 only).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets which signatures [`Verifier::verify`] accepts.
    pub fn set_policy(&mut self, policy: SignaturePolicy) -> &mut Self {
        self.policy = policy;
        self
    }

    /// The policy [`Verifier::verify`] applies.
    pub fn policy(&self) -> &SignaturePolicy {
        &self.policy
    }

    /// Adds an HMAC shared secret (its UTF-8 bytes).
    pub fn add_hmac_key(&mut self, key: &[u8]) -> Result<&mut Self> {
        self.keys.push(VerifierKey::Hmac(hmac_mac(key)?));
        Ok(self)
    }

    /// Adds an Ed25519 public key given as base64 of its 32 bytes.
    pub fn add_ed25519_public_key(&mut self, public_b64: &str) -> Result<&mut Self> {
        let raw = b64decode(public_b64).ok_or_else(|| Error::key("Ed25519 public key is not standard base64"))?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| Error::key("Ed25519 public key must decode to 32 bytes"))?;
        let vk = VerifyingKey::from_bytes(&raw).map_err(|_| Error::key("Ed25519 public key is not a valid point"))?;
        self.keys.push(VerifierKey::Ed25519(vk));
        Ok(self)
    }

    /// Adds a key as it travels: the HMAC secret string or the base64 Ed25519 public key.
    pub fn add_key(&mut self, alg: Algorithm, key: &str) -> Result<&mut Self> {
        match alg {
            Algorithm::Hmac => self.add_hmac_key(key.as_bytes()),
            Algorithm::Ed25519 => self.add_ed25519_public_key(key),
        }
    }

    /// How many keys the verifier holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the verifier holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a base64 signature over a digest under any of the keys.
    pub fn verify_digest(&self, digest: &[u8; 32], sig_b64: &str) -> Result<()> {
        let raw = b64decode(sig_b64).ok_or_else(|| Error::sig("not standard base64 with padding"))?;
        let mut length_fits = false;
        for key in &self.keys {
            match key {
                VerifierKey::Hmac(mac) if raw.len() == 32 => {
                    length_fits = true;
                    let mut mac = mac.clone();
                    mac.update(digest);
                    // verify_slice compares in constant time.
                    if mac.verify_slice(&raw).is_ok() {
                        return Ok(());
                    }
                }
                VerifierKey::Ed25519(vk) if raw.len() == 64 => {
                    length_fits = true;
                    let sig = ed25519_dalek::Signature::from_slice(&raw)
                        .map_err(|_| Error::sig("malformed Ed25519 signature"))?;
                    if vk.verify_strict(digest, &sig).is_ok() {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        if self.keys.is_empty() {
            Err(Error::sig("the verifier holds no key"))
        } else if !length_fits {
            Err(Error::sig(format!("decoded signature has the wrong length ({} bytes)", raw.len())))
        } else {
            Err(Error::sig("does not verify under any key"))
        }
    }

    /// Checks a record's `sig` under the verifier's policy: the prefix names the
    /// payload (SPEC §4); a v1 signature that fails on the canonical payload is
    /// tried on each legacy encoding the policy lists (§4.1).
    ///
    /// Errors: [`Error::SignatureMissing`] when it has none,
    /// [`Error::UnsupportedSignatureVersion`] for a version the policy refuses,
    /// [`Error::SignatureInvalid`] when it does not verify, [`Error::InvalidField`]
    /// when the record cannot be canonicalized.
    ///
    /// ```
    /// use fractal_core::*;
    /// let mut pcs = build_pcs(&BuildInput::example()).unwrap();
    /// pcs.sig = Some(sign_hmac_version(&pcs, b"k", SigVersion::V1).unwrap());
    /// let mut v = Verifier::new();
    /// v.add_hmac_key(b"k").unwrap();
    /// assert_eq!(v.verify(&pcs).unwrap_err().kind(), "unsupported_signature_version");
    /// v.set_policy(SignaturePolicy::any_version());
    /// v.verify(&pcs).unwrap();
    /// ```
    pub fn verify(&self, pcs: &Pcs) -> Result<()> {
        self.verify_with(pcs, &self.policy).map(drop)
    }

    /// [`Verifier::verify`] under another policy; tells which payload (and for v1,
    /// which encoding, `None` for the canonical one) the signature covered.
    pub fn verify_with(&self, pcs: &Pcs, policy: &SignaturePolicy) -> Result<(SigVersion, Option<LegacyEncoding>)> {
        let (version, mac) = admit(pcs.sig.as_deref(), policy)?;
        match version {
            SigVersion::V2 => self.verify_digest(&digest(pcs, version)?, mac).map(|()| (version, None)),
            SigVersion::V1 => self.verify_v1(&SigningFields::from(pcs), mac, policy).map(|enc| (version, enc)),
        }
    }

    /// Checks a v1 signature over the eight fields alone (all the seed's SDKs
    /// signed), under the verifier's policy: as [`Verifier::verify`] does for a v1
    /// `sig`, the canonical payload first, then each legacy encoding the policy
    /// lists; tells which encoding verified (`None`: the canonical payload).
    ///
    /// Errors: [`Error::SignatureMissing`] for no or an empty `sig`,
    /// [`Error::UnsupportedSignatureVersion`], [`Error::SignatureInvalid`], and
    /// [`Error::InvalidArgument`] naming `sig` for a `v2:` signature, which covers
    /// the whole record and is checked with [`Verifier::verify`].
    pub fn verify_fields_v1(&self, fields: &SigningFields<'_>, sig: Option<&str>) -> Result<Option<LegacyEncoding>> {
        let (version, mac) = admit(sig, &self.policy)?;
        if version != SigVersion::V1 {
            return Err(Error::InvalidArgument {
                name: "sig".into(),
                reason: "a v2 signature covers the whole record: check the record, not its eight v1 fields".into(),
            });
        }
        self.verify_v1(fields, mac, &self.policy)
    }

    /// A v1 signature (`mac`, without prefix) over the canonical payload of
    /// `fields`, else over each legacy encoding of `policy` (SPEC §4.1).
    fn verify_v1(&self, fields: &SigningFields<'_>, mac: &str, policy: &SignaturePolicy) -> Result<Option<LegacyEncoding>> {
        let first = self.verify_digest(&sha256(&canonical_fields(fields)?), mac);
        if first.is_ok() {
            return Ok(None);
        }
        for &enc in &policy.encodings {
            if let Some(d) = enc.digest(fields)
                && self.verify_digest(&d, mac).is_ok()
            {
                return Ok(Some(enc));
            }
        }
        first.map(|()| None)
    }

    /// Checks a read request's `Authorization` header (SPEC §6.1) at the server's
    /// unix time `now`: [`Error::SignatureMissing`] without one,
    /// [`Error::SignatureInvalid`] when malformed, stale (more than
    /// [`READ_SKEW_SECS`] away) or not verifying under any key.
    pub fn verify_read(&self, tenant: &str, pcs_id: &str, authorization: Option<&str>, now: u64) -> Result<()> {
        let value = match authorization {
            Some(v) if !v.trim().is_empty() => v,
            _ => return Err(Error::SignatureMissing),
        };
        let (t, sig) = parse_read_authorization(value)?;
        if t.abs_diff(now) > READ_SKEW_SECS {
            return Err(Error::sig(format!(
                "read signature time is more than {READ_SKEW_SECS} s from the server's clock"
            )));
        }
        self.verify_digest(&read_digest(tenant, pcs_id, t), sig)
    }
}
