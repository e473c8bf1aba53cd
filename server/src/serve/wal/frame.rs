//! Frames of the log: v1, v2 and v3 payloads, sealed with their CRC.

use super::*;

/// Encodes one record as a v1 frame (the format before v2; kept to test upgrades, and
/// the body-only frame of `fractal-load`'s durable baseline).
pub fn frame_v1(tenant: &str, body: &[u8]) -> Vec<u8> {
    assert!(!tenant.is_empty() && tenant.len() <= u8::MAX as usize, "tenant ids are 1-255 bytes");
    let mut payload = Vec::with_capacity(1 + tenant.len() + body.len());
    payload.push(tenant.len() as u8);
    payload.extend_from_slice(tenant.as_bytes());
    payload.extend_from_slice(body);
    seal(payload)
}

/// Frames a payload: length, checksum, payload.
pub(super) fn seal(payload: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&payload);
    reseal(&mut out);
    out
}

/// Recomputes the checksum of a frame after its payload changed.
pub(super) fn reseal(frame: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&frame[0..4]);
    h.update(&frame[HEADER..]);
    let crc = h.finalize().to_le_bytes();
    frame[4..8].copy_from_slice(&crc);
}

/// Offset of `batch_start` in a v2 frame.
pub(super) const BATCH_AT: usize = HEADER + 2;

/// Encodes one record and its decided outcome as a v2 frame (`batch_start` is filled
/// in by the writer).
pub fn frame(tenant: &str, d: &Decided, body: &[u8]) -> Vec<u8> {
    assert!(!tenant.is_empty() && tenant.len() <= u8::MAX as usize, "tenant ids are 1-255 bytes");
    assert!(d.pcs_id.len() <= u16::MAX as usize, "pcs_ids are short");
    let mut p = Vec::with_capacity(80 + tenant.len() + d.pcs_id.len() + d.outcome.len() + body.len());
    p.extend_from_slice(&[0, if d.origin.is_some() { 3 } else { 2 }]);
    p.extend_from_slice(&0u64.to_le_bytes());
    p.extend_from_slice(&d.accepted_at.to_le_bytes());
    p.extend_from_slice(&d.expires_at.to_le_bytes());
    p.extend_from_slice(&d.status.to_le_bytes());
    p.push(tenant.len() as u8);
    p.extend_from_slice(tenant.as_bytes());
    p.extend_from_slice(&(d.pcs_id.len() as u16).to_le_bytes());
    p.extend_from_slice(d.pcs_id.as_bytes());
    p.extend_from_slice(&(d.outcome.len() as u32).to_le_bytes());
    p.extend_from_slice(&d.outcome);
    if let Some(o) = &d.origin {
        assert!(!o.region.is_empty() && o.region.len() <= u8::MAX as usize, "region ids are 1-64 bytes");
        p.extend_from_slice(&o.hlc.to_le_bytes());
        p.push(o.region.len() as u8);
        p.extend_from_slice(o.region.as_bytes());
    }
    p.extend_from_slice(body);
    seal(p)
}

/// Sets the `batch_start` of a v2 frame (and its checksum).
pub(super) fn set_batch_start(frame: &mut [u8], start: u64) {
    if frame.len() >= BATCH_AT + 8 && frame[HEADER] == 0 {
        frame[BATCH_AT..BATCH_AT + 8].copy_from_slice(&start.to_le_bytes());
        reseal(frame);
    }
}

/// A decoded payload.
pub(super) struct Decoded {
    pub(super) tenant: String,
    pub(super) body: Vec<u8>,
    pub(super) decided: Option<Decided>,
    /// v2 frames: the offset of their batch's first frame.
    pub(super) batch_start: Option<u64>,
}

pub(super) fn decode_payload(p: &[u8]) -> Result<Decoded, &'static str> {
    struct Cur<'a>(&'a [u8]);
    impl<'a> Cur<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
            if self.0.len() < n {
                return Err("a field runs past the record's end");
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Ok(a)
        }
        fn u64(&mut self) -> Result<u64, &'static str> {
            Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
        }
        fn u16(&mut self) -> Result<u16, &'static str> {
            Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
        }
        fn string(&mut self, n: usize) -> Result<String, &'static str> {
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a text field is not UTF-8")
        }
    }
    let mut c = Cur(p);
    let first = c.take(1)?[0];
    if first != 0 {
        // v1: [tenant_len][tenant][body]
        let tenant = c.string(first as usize)?;
        return Ok(Decoded { tenant, body: c.0.to_vec(), decided: None, batch_start: None });
    }
    let version = c.take(1)?[0];
    if version != 2 && version != 3 {
        return Err("unknown record version");
    }
    let batch_start = c.u64()?;
    let accepted_at = c.u64()?;
    let expires_at = c.u64()?;
    let status = c.u16()?;
    let tlen = c.take(1)?[0] as usize;
    if tlen == 0 {
        return Err("empty tenant");
    }
    let tenant = c.string(tlen)?;
    let plen = c.u16()? as usize;
    let pcs_id = c.string(plen)?;
    let olen = u32::from_le_bytes(c.take(4)?.try_into().unwrap()) as usize;
    let outcome = c.take(olen)?.to_vec();
    let origin = if version == 3 {
        let hlc = c.u64()?;
        let rlen = c.take(1)?[0] as usize;
        if rlen == 0 {
            return Err("empty region");
        }
        Some(Origin { hlc, region: c.string(rlen)? })
    } else {
        None
    };
    Ok(Decoded {
        tenant,
        body: c.0.to_vec(),
        decided: Some(Decided { pcs_id, status, outcome, accepted_at, expires_at, origin }),
        batch_start: Some(batch_start),
    })
}
