//! Reading records and keys for the tool subcommands. Keys come from an
//! environment variable or a file, never from argv (argv is visible to every
//! user of the machine in `ps`), and never appear in error messages.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use fractal_core::{Algorithm, Pcs};

/// The whole of a file, or of stdin for `None` and `-`.
pub fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match path {
        Some(p) if p.as_os_str() != "-" => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf).context("cannot read stdin")?;
            Ok(buf)
        }
    }
}

/// A record parsed from a file or stdin (SPEC §1, malformed level).
pub fn read_record(path: Option<&Path>) -> anyhow::Result<Pcs> {
    let bytes = read_input(path)?;
    let source = match path {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "stdin".to_string(),
    };
    Pcs::from_json(&bytes).with_context(|| format!("record from {source}"))
}

/// Which key a command needs, to pick the default environment variable.
#[derive(Clone, Copy)]
pub enum KeyRole {
    Signing,
    Verifying,
}

fn default_env(alg: Algorithm, role: KeyRole) -> &'static str {
    match (alg, role) {
        (Algorithm::Hmac, _) => "FRACTAL_HMAC_KEY",
        (Algorithm::Ed25519, KeyRole::Signing) => "FRACTAL_ED25519_SEED",
        (Algorithm::Ed25519, KeyRole::Verifying) => "FRACTAL_ED25519_PUBLIC",
    }
}

/// Where keys come from. HMAC keys are the secret string itself; Ed25519 keys are
/// base64 (the seed to sign, the public key to verify).
#[derive(clap::Args)]
pub struct KeyArgs {
    /// Read the key from this environment variable (repeatable for `verify`:
    /// any key may match). Default: FRACTAL_HMAC_KEY, FRACTAL_ED25519_SEED
    /// (sign) or FRACTAL_ED25519_PUBLIC (verify).
    #[arg(long = "key-env", value_name = "NAME")]
    key_env: Vec<String>,
    /// Read the key from this file; one trailing newline is dropped (repeatable
    /// for `verify`).
    #[arg(long = "key-file", value_name = "PATH")]
    key_file: Vec<PathBuf>,
}

impl KeyArgs {
    /// Whether any key source was named explicitly.
    pub fn is_given(&self) -> bool {
        !self.key_env.is_empty() || !self.key_file.is_empty()
    }

    /// Every key named, or the default variable's.
    pub fn read_all(&self, alg: Algorithm, role: KeyRole) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        for name in &self.key_env {
            keys.push(from_env(name)?);
        }
        for path in &self.key_file {
            keys.push(from_file(path)?);
        }
        if keys.is_empty() {
            let name = default_env(alg, role);
            keys.push(from_env(name).with_context(|| "no key given: use --key-env NAME or --key-file PATH".to_string())?);
        }
        Ok(keys)
    }

    /// Exactly one key.
    pub fn read_one(&self, alg: Algorithm, role: KeyRole) -> anyhow::Result<String> {
        let mut keys = self.read_all(alg, role)?;
        if keys.len() != 1 {
            bail!("invalid argument `key`: give exactly one of --key-env and --key-file to sign");
        }
        Ok(keys.remove(0))
    }
}

fn from_env(name: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => bail!("environment variable {name} is empty"),
        Err(std::env::VarError::NotPresent) => bail!("environment variable {name} is not set"),
        Err(std::env::VarError::NotUnicode(_)) => bail!("environment variable {name} is not UTF-8"),
    }
}

fn from_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let mut text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("key file {} is not UTF-8", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        bail!("key file {} is empty", path.display());
    }
    Ok(text)
}

/// Creates `path` readable by its owner only and writes `secret`; refuses to
/// overwrite an existing file.
pub fn write_secret_file(path: &Path, secret: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(secret).and_then(|()| f.write_all(b"\n")).with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
