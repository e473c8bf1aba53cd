//! Signatures over the canonical digest (SPEC §4): HMAC-SHA256 and Ed25519, strict
//! base64, constant-time comparison and several keys per verifier for rotation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::canonical::digest;
use crate::error::{Error, Result};
use crate::model::Pcs;

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

/// Signs a record with HMAC-SHA256: canonical payload, digest, MAC, base64.
pub fn sign_hmac(pcs: &Pcs, key: &[u8]) -> Result<String> {
    sign_hmac_digest(&digest(pcs)?, key)
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

    /// Signs a record: canonical payload, digest, MAC, base64.
    pub fn sign(&self, pcs: &Pcs) -> Result<String> {
        Ok(self.sign_digest(&digest(pcs)?))
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
        let seed: [u8; 32] =
            seed.try_into().map_err(|_| Error::key("Ed25519 seed must decode to 32 bytes"))?;
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

    /// `base64(Ed25519-sign(seed, digest))`.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> String {
        b64encode(&self.key.sign(digest).to_bytes())
    }

    /// Signs a record: canonical payload, digest, Ed25519, base64.
    pub fn sign(&self, pcs: &Pcs) -> Result<String> {
        Ok(self.sign_digest(&digest(pcs)?))
    }
}

/// Signs a record with Ed25519 given the base64 private seed.
pub fn sign_ed25519(pcs: &Pcs, seed_b64: &str) -> Result<String> {
    Ed25519Keypair::from_seed_b64(seed_b64)?.sign(pcs)
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

    /// Signs a record and stores the signature in its `sig` field.
    pub fn sign_in_place(&self, pcs: &mut Pcs) -> Result<()> {
        pcs.sig = Some(self.sign_digest(&digest(pcs)?)?);
        Ok(())
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
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("keys", &self.keys.len()).finish()
    }
}

impl Verifier {
    /// A verifier with no keys (it rejects every signature until one is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an HMAC shared secret (its UTF-8 bytes).
    pub fn add_hmac_key(&mut self, key: &[u8]) -> Result<&mut Self> {
        self.keys.push(VerifierKey::Hmac(hmac_mac(key)?));
        Ok(self)
    }

    /// Adds an Ed25519 public key given as base64 of its 32 bytes.
    pub fn add_ed25519_public_key(&mut self, public_b64: &str) -> Result<&mut Self> {
        let raw = b64decode(public_b64).ok_or_else(|| Error::key("Ed25519 public key is not standard base64"))?;
        let raw: [u8; 32] =
            raw.try_into().map_err(|_| Error::key("Ed25519 public key must decode to 32 bytes"))?;
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

    /// Checks a record's `sig`: [`Error::SignatureMissing`] when it has none,
    /// [`Error::SignatureInvalid`] when it does not verify, [`Error::InvalidField`]
    /// when the record cannot be canonicalized.
    pub fn verify(&self, pcs: &Pcs) -> Result<()> {
        let sig = match pcs.sig.as_deref() {
            Some(s) if !s.is_empty() => s,
            _ => return Err(Error::SignatureMissing),
        };
        self.verify_digest(&digest(pcs)?, sig)
    }
}
