//! The partner request signature scheme (`Canopy-Signature: v1=…`).
//!
//! A partner signs `"<timestamp>.<METHOD>.<path with query>.<hex SHA-256 of
//! the raw body>"` with HMAC-SHA256 under its secret. The body is hashed first
//! so that the signed string stays small whatever the batch size, and the
//! method and path are signed so that a signature for one endpoint cannot be
//! replayed against another.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far a request's timestamp may be from the server clock, in seconds.
pub const TIMESTAMP_TOLERANCE_S: i64 = 300;

/// The string that is signed.
pub fn signing_string(timestamp: i64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    format!("{timestamp}.{method}.{path_and_query}.{body_hash}")
}

/// The value of the `Canopy-Signature` header for a request (`v1=<hex>`).
pub fn sign(secret: &[u8], timestamp: i64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(signing_string(timestamp, method, path_and_query, body).as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `header`: one or more comma-separated `v1=<64 lowercase hex>`
/// values (two while a partner rotates its secret). Every value must be well
/// formed; one of them must be the HMAC of this request under `secret`
/// (compared in constant time). Returns that HMAC as lowercase hex, which is
/// the request's replay key: it is the same however the header is written.
pub fn verify(
    secret: &[u8],
    header: &str,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Option<String> {
    let well_formed = |value: &str| value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let candidates: Vec<&str> =
        header.split(',').map(str::trim).map(|c| c.strip_prefix("v1=")).collect::<Option<_>>()?;
    if candidates.is_empty() || candidates.len() > 2 || !candidates.iter().all(|c| well_formed(c)) {
        return None;
    }
    let signed = signing_string(timestamp, method, path_and_query, body);
    candidates.into_iter().find_map(|candidate| {
        let bytes = hex::decode(candidate).ok()?;
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(signed.as_bytes());
        mac.verify_slice(&bytes).ok()?;
        Some(candidate.to_owned())
    })
}

/// Whether a request timestamp is within the tolerance of `now`.
pub fn timestamp_is_fresh(timestamp: i64, now: i64) -> bool {
    now.abs_diff(timestamp) <= TIMESTAMP_TOLERANCE_S as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_what_was_signed() {
        let secret = b"s3cret";
        let header = sign(secret, 1_700_000_000, "POST", "/v1/partner/events", b"{}");
        assert!(header.starts_with("v1="));
        assert_eq!(header.len(), 3 + 64);
        let check = |header: &str, ts: i64, method: &str, path: &str, body: &[u8]| {
            verify(secret, header, ts, method, path, body)
        };
        let key = check(&header, 1_700_000_000, "POST", "/v1/partner/events", b"{}").expect("valid");
        assert_eq!(format!("v1={key}"), header);
        assert!(verify(b"other", &header, 1_700_000_000, "POST", "/v1/partner/events", b"{}").is_none());
        assert!(check(&header, 1_700_000_001, "POST", "/v1/partner/events", b"{}").is_none());
        assert!(check(&header, 1_700_000_000, "PUT", "/v1/partner/events", b"{}").is_none());
        assert!(check(&header, 1_700_000_000, "POST", "/v1/partner/events?x=1", b"{}").is_none());
        assert!(check(&header, 1_700_000_000, "POST", "/v1/partner/events", b"{ }").is_none());
        assert!(check("v1=zz", 1_700_000_000, "POST", "/v1/partner/events", b"{}").is_none());
        // A second value for secret rotation is fine, and the replay key is the same.
        let rotated = format!("v1={},{header}", "0".repeat(64));
        assert_eq!(check(&rotated, 1_700_000_000, "POST", "/v1/partner/events", b"{}"), Some(key.clone()));
        // Other spellings of the same signature are refused, not new keys.
        let upper = format!("v1={}", key.to_uppercase());
        for variant in [upper, format!("x,{header}"), format!("{header},v1=00"), format!("{header},{header},{header}")]
        {
            assert!(check(&variant, 1_700_000_000, "POST", "/v1/partner/events", b"{}").is_none(), "{variant}");
        }
    }

    #[test]
    fn the_signing_string_hashes_the_body() {
        assert_eq!(
            signing_string(1, "POST", "/p?q=1", b""),
            "1.POST./p?q=1.e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn freshness_is_symmetric() {
        assert!(timestamp_is_fresh(1000, 1300));
        assert!(timestamp_is_fresh(1300, 1000));
        assert!(!timestamp_is_fresh(1000, 1301));
        assert!(!timestamp_is_fresh(1301, 1000));
        assert!(!timestamp_is_fresh(i64::MIN, i64::MAX));
        assert!(!timestamp_is_fresh(i64::MAX, 0));
    }
}
