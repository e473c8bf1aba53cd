//! `[region]` and `[region.replication]` (SPEC §10). Off unless `id` is set, so a
//! server without the section behaves exactly as before (v2 log frames, no stamps).

use anyhow::bail;
use serde::Deserialize;

/// `[region]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RegionFile {
    /// This region's id, e.g. `eu-west` (1-64 of `A-Z a-z 0-9 . _ -`).
    pub id: Option<String>,
    /// `[region.replication]`: where the regions exchange their logs.
    #[serde(default)]
    pub replication: ReplicationFile,
}

/// `[region.replication]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplicationFile {
    /// The object store every region shares: `s3://bucket/prefix` or `file:///dir`.
    pub url: Option<String>,
    /// Milliseconds between two publications of this region's log (default 5000).
    pub publish_ms: Option<u64>,
    /// Milliseconds between two imports of the peers' logs (default 5000).
    pub import_ms: Option<u64>,
    /// Milliseconds between two divergence digests (default 10000).
    pub digest_ms: Option<u64>,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Region {
    /// This region's id.
    pub id: String,
    /// The shared object store.
    pub url: String,
    /// Publication period.
    pub publish_ms: u64,
    /// Import period.
    pub import_ms: u64,
    /// Digest period.
    pub digest_ms: u64,
}

fn period(key: &str, v: Option<u64>, default: u64) -> anyhow::Result<u64> {
    let v = v.unwrap_or(default);
    if !(50..=3_600_000).contains(&v) {
        bail!("{key}: must be 50..=3600000 milliseconds, got {v}");
    }
    Ok(v)
}

impl Region {
    /// Checks `[region]`; `shared` says whether the PostgreSQL backend is configured
    /// (regions need the embedded store: see docs/server.md).
    pub fn resolve(f: &RegionFile, shared: bool) -> anyhow::Result<Option<Region>> {
        let Some(id) = &f.id else {
            if f.replication.url.is_some() {
                bail!("region.id: required when [region.replication] is set");
            }
            return Ok(None);
        };
        if let Err(why) = fractal_core::region::check_region_id(id) {
            bail!("region.id: {why}");
        }
        if shared {
            bail!("region.id: regions need the embedded store (store.backend = \"embedded\") in this version");
        }
        let Some(url) = &f.replication.url else { bail!("region.replication.url: required when region.id is set") };
        crate::serve::config::object_store_url("region.replication.url", url)?;
        let r = &f.replication;
        Ok(Some(Region {
            id: id.clone(),
            url: url.clone(),
            publish_ms: period("region.replication.publish_ms", r.publish_ms, 5_000)?,
            import_ms: period("region.replication.import_ms", r.import_ms, 5_000)?,
            digest_ms: period("region.replication.digest_ms", r.digest_ms, 10_000)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Option<Region>> {
        let f: RegionFile = toml::from_str(s)?;
        Region::resolve(&f, false)
    }

    #[test]
    fn off_by_default_and_errors_name_the_field() {
        assert!(parse("").unwrap().is_none());
        let r = parse("id = \"eu-west\"\n[replication]\nurl = \"s3://b/p\"\npublish_ms = 200\n").unwrap().unwrap();
        assert_eq!((r.id.as_str(), r.publish_ms, r.import_ms), ("eu-west", 200, 5_000));
        let e = |s: &str| parse(s).unwrap_err().to_string();
        assert!(e("id = \"eu west\"\n[replication]\nurl = \"s3://b\"").starts_with("region.id:"));
        assert!(e("id = \"eu\"").starts_with("region.replication.url:"));
        assert!(e("id = \"eu\"\n[replication]\nurl = \"http://x\"").starts_with("region.replication.url:"));
        assert!(
            e("id = \"eu\"\n[replication]\nurl = \"s3://b\"\nimport_ms = 1")
                .starts_with("region.replication.import_ms:")
        );
        assert!(e("[replication]\nurl = \"s3://b\"").starts_with("region.id:"));
        let f: RegionFile = toml::from_str("id = \"eu\"\n[replication]\nurl = \"s3://b\"").unwrap();
        assert!(Region::resolve(&f, true).unwrap_err().to_string().contains("embedded"));
    }
}
