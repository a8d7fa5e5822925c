//! Voucher codes: what a sponsor may upload, and how a merchant's use of
//! one is decided.

use chrono::{DateTime, Utc};

/// The shortest code.
pub const CODE_MIN: usize = 4;
/// The longest code.
pub const CODE_MAX: usize = 64;
/// The most codes one upload may carry.
pub const UPLOAD_MAX: usize = 10_000;

/// Whether `code` may be a voucher code: 4 to 64 ASCII letters, digits,
/// `-` or `_` (what a till can type and a QR code carries).
pub fn is_code(code: &str) -> bool {
    (CODE_MIN..=CODE_MAX).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A code as the merchant's use of it reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeState {
    /// The merchant (partner) whose voucher it is.
    pub merchant_id: i64,
    /// Whether a citizen holds it (issued, and its redemption not cancelled).
    pub issued: bool,
    /// Whether its redemption was cancelled after it was shown.
    pub voided: bool,
    /// Whether a merchant accepted it already.
    pub used: bool,
    /// When the voucher stops being honoured.
    pub expires_at: DateTime<Utc>,
}

/// Why a merchant may not accept a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VoucherRefusal {
    /// No such code was issued to anyone.
    #[error("no voucher with this code was issued")]
    Unknown,
    /// It was accepted before.
    #[error("the voucher was used already")]
    Used,
    /// It has expired.
    #[error("the voucher has expired")]
    Expired,
    /// Another merchant's voucher.
    #[error("the voucher is another merchant's")]
    WrongMerchant,
    /// Its redemption was cancelled: the code is void.
    #[error("the voucher was cancelled by its holder")]
    Cancelled,
}

impl VoucherRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            VoucherRefusal::Unknown => "voucher_unknown",
            VoucherRefusal::Used => "voucher_used",
            VoucherRefusal::Expired => "voucher_expired",
            VoucherRefusal::WrongMerchant => "voucher_wrong_merchant",
            VoucherRefusal::Cancelled => "voucher_cancelled",
        }
    }
}

/// Decides whether `merchant_id` may accept a code (`None`: no such code)
/// at `now`. Another merchant learns only that the code is not theirs.
pub fn accept(code: Option<&CodeState>, merchant_id: i64, now: DateTime<Utc>) -> Result<(), VoucherRefusal> {
    let code = code.ok_or(VoucherRefusal::Unknown)?;
    if code.merchant_id != merchant_id {
        return Err(if code.issued || code.voided { VoucherRefusal::WrongMerchant } else { VoucherRefusal::Unknown });
    }
    if code.voided {
        return Err(VoucherRefusal::Cancelled);
    }
    if !code.issued {
        return Err(VoucherRefusal::Unknown);
    }
    if code.used {
        return Err(VoucherRefusal::Used);
    }
    if now >= code.expires_at {
        return Err(VoucherRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typable() {
        for good in ["ABCD", "green-2026_0001", &"x".repeat(64)] {
            assert!(is_code(good), "{good}");
        }
        for bad in ["abc", "with space", "ünï", &"x".repeat(65), "a;b--"] {
            assert!(!is_code(bad), "{bad}");
        }
    }

    #[test]
    fn a_merchant_accepts_an_issued_code_of_theirs_once_before_expiry() {
        let now = crate::time::parse_rfc3339_utc("2026-06-01T00:00:00Z").unwrap();
        let issued = CodeState {
            merchant_id: 3,
            issued: true,
            voided: false,
            used: false,
            expires_at: now + chrono::Duration::days(1),
        };
        assert_eq!(accept(Some(&issued), 3, now), Ok(()));
        let code = |c: CodeState, merchant: i64| accept(Some(&c), merchant, now).unwrap_err().code();
        assert_eq!(accept(None, 3, now).unwrap_err().code(), "voucher_unknown");
        assert_eq!(code(issued, 4), "voucher_wrong_merchant");
        assert_eq!(code(CodeState { issued: false, ..issued }, 4), "voucher_unknown", "an unissued code says nothing");
        assert_eq!(code(CodeState { issued: false, ..issued }, 3), "voucher_unknown");
        assert_eq!(code(CodeState { used: true, ..issued }, 3), "voucher_used");
        assert_eq!(code(CodeState { voided: true, issued: false, ..issued }, 3), "voucher_cancelled");
        assert_eq!(code(CodeState { expires_at: now, ..issued }, 3), "voucher_expired");
    }
}
