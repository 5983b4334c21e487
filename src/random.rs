//! The one source of randomness: acknowledgement-link nonces and keys, Message-IDs, retry jitter.
//! Everything random in golive comes from here, so there is one place to read how it is made
//! (the operating system's generator through `getrandom`) and what happens when it fails.

use std::sync::atomic::{AtomicU64, Ordering};

/// `N` random bytes from the operating system. Should the generator fail (it does not on Linux
/// once booted), the bytes come from the clock and a counter: golive's random values only need
/// to be unique and unguessable enough for nonces and ids, and a daemon that cannot page because
/// of a missing entropy source would be worse.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buffer = [0u8; N];
    if getrandom::fill(&mut buffer).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = jiff::Timestamp::now().as_nanosecond() as u64
            ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32);
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = (seed >> ((index % 8) * 8)) as u8 ^ index as u8;
        }
    }
    buffer
}

/// `N` random bytes for a secret (a signing key, an API token): unlike [`bytes`] this never
/// falls back to anything guessable, and says why it failed instead.
pub fn secret<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut buffer = [0u8; N];
    getrandom::fill(&mut buffer).map_err(|error| {
        std::io::Error::other(format!(
            "the operating system's random generator failed: {error}"
        ))
    })?;
    Ok(buffer)
}

/// `N` random bytes as `2 × N` lowercase hex digits.
pub fn hex<const N: usize>() -> String {
    to_hex(&bytes::<N>())
}

/// A number in `0.0..1.0`, for retry jitter.
pub fn unit() -> f64 {
    (u64::from_le_bytes(bytes::<8>()) >> 11) as f64 / (1u64 << 53) as f64
}

/// Bytes as lowercase hex digits.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_differ_and_have_the_asked_length() {
        let (first, second) = (hex::<8>(), hex::<8>());
        assert_eq!(first.len(), 16);
        assert_ne!(first, second);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        for _ in 0..1000 {
            let value = unit();
            assert!((0.0..1.0).contains(&value));
        }
    }
}
