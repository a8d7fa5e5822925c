//! Certificate numbers: public, shareable, and unguessable. A number
//! carries 80 random bits (the caller supplies them from a secure source),
//! written in Crockford's base 32 in four groups: `CNP-7Q2M-X9KD-4HRT-0ZPW`.
//! Knowing one number tells nothing of any other.

/// Random bytes a number is made of.
pub const RANDOM_BYTES: usize = 10;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const PREFIX: &str = "CNP-";

/// The number made of `random`.
pub fn number(random: [u8; RANDOM_BYTES]) -> String {
    let bits = random.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut out = String::with_capacity(PREFIX.len() + 19);
    out.push_str(PREFIX);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 5 * (15 - i);
        out.push(char::from(ALPHABET[((bits >> shift) & 31) as usize]));
    }
    out
}

/// Whether `text` has the shape of a certificate number (so a lookup of
/// anything else is refused before it reaches the database).
pub fn is_number(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(PREFIX) else { return false };
    rest.len() == 19
        && rest.bytes().enumerate().all(|(i, b)| if i % 5 == 4 { b == b'-' } else { ALPHABET.contains(&b) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_one_shape_and_differ_with_their_bits() {
        let zero = number([0; RANDOM_BYTES]);
        assert_eq!(zero, "CNP-0000-0000-0000-0000");
        let all = number([0xff; RANDOM_BYTES]);
        assert_eq!(all, "CNP-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
        let one = number([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(one, "CNP-0000-0000-0000-0001");
        for n in [&zero, &all, &one] {
            assert!(is_number(n), "{n}");
        }
        for bad in [
            "",
            "CNP-",
            "CNP-0000-0000-0000-000",
            "CNP-0000-0000-0000-000I",
            "cnp-0000-0000-0000-0000",
            "CNP-0000_0000-0000-0000",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }
}
