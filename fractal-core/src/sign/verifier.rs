//! The server side of SPEC §4: which signatures a tenant accepts, and the
//! verifier that holds its keys (several, for rotation).

use super::*;

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
