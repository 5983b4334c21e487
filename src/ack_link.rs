//! One-click acknowledgement links: a token that names what it acknowledges (one alert, or every
//! alert of a group of notifications merged into one message: "acknowledge all") and the person
//! it was sent to, expires, is signed with HMAC-SHA256, and carries a nonce so the store can refuse
//! a second use. Pure: the key and the time are passed in.
//!
//! A token is `TARGET.EXPIRES.NONCE.RECIPIENT.SIGNATURE`: TARGET is the alert number, or `g`
//! followed by the group key in hex (a group key is the outbox's, which names channel, recipient,
//! kind and the burst, so the engine finds the group's alerts in the store when the link is used).
//!
//! The same key signs the personal feedback links of the reports ([`issue_feedback`],
//! [`verify_feedback`]): TARGET is `f` followed by what the link is about (the report) in hex, and
//! the signature covers the token's [`Purpose`] as well as its text, so an acknowledgement token is
//! never accepted as a feedback token nor the other way round, whatever its text says. (The
//! acknowledgement purpose signs the bare text, as before, so links already sent keep working.)

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a link acknowledges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckTarget {
    /// One alert.
    Alert(i64),
    /// Every alert still open whose notifications carried this outbox group key.
    Group(String),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckClaim {
    pub target: AckTarget,
    /// The person id or address the link was sent to.
    pub recipient: String,
    pub expires_at: i64,
    /// Unique per link; a used nonce is refused.
    pub nonce: String,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckLinkError {
    #[error("this acknowledgement link is malformed")]
    Malformed,
    #[error("this acknowledgement link's signature is not valid")]
    BadSignature,
    #[error("this acknowledgement link has expired")]
    Expired,
}

/// What a signed link is for. Part of what is signed, so a token of one purpose never verifies as
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Acknowledging alerts (`/ack/TOKEN`).
    Acknowledge,
    /// Giving feedback on a report (`/feedback/TOKEN`).
    Feedback,
}

impl Purpose {
    /// What goes before the token's text in the signed bytes: nothing for acknowledgements (the
    /// format of links already in people's mailboxes), a label ending in a newline (which no
    /// token text contains) otherwise.
    fn domain(self) -> &'static str {
        match self {
            Purpose::Acknowledge => "",
            Purpose::Feedback => "golive feedback link\n",
        }
    }
}

/// What a valid feedback token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackClaim {
    /// What the feedback is about, e.g. `daily 2026-12-02` or `final`.
    pub about: String,
    /// The person id or address the link was sent to.
    pub recipient: String,
    pub expires_at: i64,
    /// Unique per link; a used nonce is refused.
    pub nonce: String,
}

/// Why a feedback token is refused (the words a person without a token reads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackLinkError {
    #[error("this feedback link is incomplete or damaged (was it cut off when copied?)")]
    Malformed,
    #[error("this feedback link was not issued by this launch, or it was changed")]
    BadSignature,
    #[error("this feedback link has expired")]
    Expired,
}

impl From<AckLinkError> for FeedbackLinkError {
    fn from(error: AckLinkError) -> Self {
        match error {
            AckLinkError::Malformed => FeedbackLinkError::Malformed,
            AckLinkError::BadSignature => FeedbackLinkError::BadSignature,
            AckLinkError::Expired => FeedbackLinkError::Expired,
        }
    }
}

use crate::random::to_hex as hex;

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

fn mac(key: &[u8], purpose: Purpose, payload: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(purpose.domain().as_bytes());
    mac.update(payload.as_bytes());
    Some(mac)
}

/// A signed token for `target` (already encoded) sent to `recipient`, valid until `expires_at`.
fn sign(
    key: &[u8],
    purpose: Purpose,
    target: &str,
    recipient: &str,
    expires_at: Timestamp,
    nonce: &[u8],
) -> String {
    let payload = format!(
        "{target}.{}.{}.{}",
        expires_at.as_second(),
        hex(nonce),
        hex(recipient.as_bytes())
    );
    let signature = mac(key, purpose, &payload)
        .map(|mac| hex(&mac.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{payload}.{signature}")
}

/// The parts of a token whose signature (in constant time) and expiry hold: the encoded target,
/// the expiry, the nonce and the recipient.
struct Checked<'t> {
    target: &'t str,
    expires_at: i64,
    nonce: &'t str,
    recipient: String,
}

fn check<'t>(
    key: &[u8],
    purpose: Purpose,
    token: &'t str,
    now: Timestamp,
) -> Result<Checked<'t>, AckLinkError> {
    let (payload, signature) = token.rsplit_once('.').ok_or(AckLinkError::Malformed)?;
    let signature = unhex(signature).ok_or(AckLinkError::Malformed)?;
    let mac = mac(key, purpose, payload).ok_or(AckLinkError::Malformed)?;
    mac.verify_slice(&signature)
        .map_err(|_| AckLinkError::BadSignature)?;
    let mut parts = payload.split('.');
    let (Some(target), Some(expires), Some(nonce), Some(recipient), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AckLinkError::Malformed);
    };
    let expires_at: i64 = expires.parse().map_err(|_| AckLinkError::Malformed)?;
    let recipient = unhex(recipient)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(AckLinkError::Malformed)?;
    if now.as_second() >= expires_at {
        return Err(AckLinkError::Expired);
    }
    Ok(Checked {
        target,
        expires_at,
        nonce,
        recipient,
    })
}

/// Issues a feedback token about `about` (a report) sent to `recipient`, valid until `expires_at`.
pub fn issue_feedback(
    key: &[u8],
    about: &str,
    recipient: &str,
    expires_at: Timestamp,
    nonce: &[u8],
) -> String {
    let target = format!("f{}", hex(about.as_bytes()));
    sign(
        key,
        Purpose::Feedback,
        &target,
        recipient,
        expires_at,
        nonce,
    )
}

/// Checks a feedback token's signature and expiry.
pub fn verify_feedback(
    key: &[u8],
    token: &str,
    now: Timestamp,
) -> Result<FeedbackClaim, FeedbackLinkError> {
    let checked = check(key, Purpose::Feedback, token, now)?;
    let about = checked
        .target
        .strip_prefix('f')
        .and_then(unhex)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(FeedbackLinkError::Malformed)?;
    Ok(FeedbackClaim {
        about,
        recipient: checked.recipient,
        expires_at: checked.expires_at,
        nonce: checked.nonce.to_string(),
    })
}

/// Issues a token for `target` sent to `recipient`, valid until `expires_at`.
pub fn issue(
    key: &[u8],
    target: &AckTarget,
    recipient: &str,
    expires_at: Timestamp,
    nonce: &[u8],
) -> String {
    let target = match target {
        AckTarget::Alert(alert_id) => alert_id.to_string(),
        AckTarget::Group(group_key) => format!("g{}", hex(group_key.as_bytes())),
    };
    sign(
        key,
        Purpose::Acknowledge,
        &target,
        recipient,
        expires_at,
        nonce,
    )
}

/// Checks a token's signature (in constant time) and expiry.
pub fn verify(key: &[u8], token: &str, now: Timestamp) -> Result<AckClaim, AckLinkError> {
    let checked = check(key, Purpose::Acknowledge, token, now)?;
    let target = match checked.target.strip_prefix('g') {
        Some(group) => AckTarget::Group(
            unhex(group)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|key| !key.is_empty())
                .ok_or(AckLinkError::Malformed)?,
        ),
        None => AckTarget::Alert(
            checked
                .target
                .parse()
                .map_err(|_| AckLinkError::Malformed)?,
        ),
    };
    Ok(AckClaim {
        target,
        recipient: checked.recipient,
        expires_at: checked.expires_at,
        nonce: checked.nonce.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_names_alert_and_recipient() {
        let key = b"0123456789abcdef0123456789abcdef";
        let token = issue(key, &AckTarget::Alert(42), "bob", at(3600), &[1, 2, 3, 4]);
        let claim = verify(key, &token, at(10)).unwrap();
        assert_eq!(
            (claim.target, claim.recipient.as_str(), claim.nonce.as_str()),
            (AckTarget::Alert(42), "bob", "01020304")
        );
        assert_eq!(verify(key, &token, at(3600)), Err(AckLinkError::Expired));
    }

    #[test]
    fn a_tampered_or_foreign_token_is_refused() {
        let key = b"0123456789abcdef0123456789abcdef";
        let token = issue(key, &AckTarget::Alert(42), "bob", at(3600), &[9; 8]);
        let tampered = token.replacen("42.", "43.", 1);
        assert_eq!(
            verify(key, &tampered, at(10)),
            Err(AckLinkError::BadSignature)
        );
        assert_eq!(
            verify(b"another key", &token, at(10)),
            Err(AckLinkError::BadSignature)
        );
        assert_eq!(verify(key, "garbage", at(10)), Err(AckLinkError::Malformed));
        assert_eq!(
            verify(key, "a.b.c.d.zz", at(10)),
            Err(AckLinkError::Malformed)
        );
    }

    #[test]
    fn a_group_token_names_the_group_key_and_cannot_be_turned_into_another_group() {
        let key = b"0123456789abcdef0123456789abcdef";
        let group = "email|bob|opened|1|1800000000123";
        let token = issue(
            key,
            &AckTarget::Group(group.into()),
            "bob",
            at(3600),
            &[7; 12],
        );
        let claim = verify(key, &token, at(10)).unwrap();
        assert_eq!(claim.target, AckTarget::Group(group.into()));
        assert_eq!(claim.recipient, "bob");
        assert_eq!(verify(key, &token, at(3600)), Err(AckLinkError::Expired));
        // Another group's key in the same token breaks the signature.
        let other = format!("g{}", hex(b"email|alice|opened|1|1800000000123"));
        let (_, rest) = token.split_once('.').unwrap();
        assert_eq!(
            verify(key, &format!("{other}.{rest}"), at(10)),
            Err(AckLinkError::BadSignature)
        );
    }

    #[test]
    fn a_group_token_with_an_empty_or_undecodable_key_is_malformed() {
        let key = b"0123456789abcdef0123456789abcdef";
        for target in ["g", "gzz", "g0"] {
            let payload = format!("{target}.{}.0102.626f62", at(3600).as_second());
            let signature = hex(&mac(key, Purpose::Acknowledge, &payload)
                .unwrap()
                .finalize()
                .into_bytes());
            assert_eq!(
                verify(key, &format!("{payload}.{signature}"), at(10)),
                Err(AckLinkError::Malformed),
                "{target}"
            );
        }
    }

    #[test]
    fn a_feedback_token_names_report_and_recipient_and_expires() {
        let key = b"0123456789abcdef0123456789abcdef";
        let token = issue_feedback(
            key,
            "daily 2026-12-02",
            "carol@example.com",
            at(60),
            &[5; 12],
        );
        let claim = verify_feedback(key, &token, at(10)).unwrap();
        assert_eq!(claim.about, "daily 2026-12-02");
        assert_eq!(claim.recipient, "carol@example.com");
        assert_eq!(
            verify_feedback(key, &token, at(60)),
            Err(FeedbackLinkError::Expired)
        );
        let tampered = token.replacen(".", "0.", 1);
        assert_eq!(
            verify_feedback(key, &tampered, at(10)),
            Err(FeedbackLinkError::BadSignature)
        );
    }

    #[test]
    fn an_acknowledgement_token_is_never_a_feedback_token_nor_the_other_way_round() {
        let key = b"0123456789abcdef0123456789abcdef";
        let ack = issue(key, &AckTarget::Alert(7), "bob", at(3600), &[1; 12]);
        assert_eq!(
            verify_feedback(key, &ack, at(10)),
            Err(FeedbackLinkError::BadSignature)
        );
        let feedback = issue_feedback(key, "final", "bob", at(3600), &[2; 12]);
        assert_eq!(
            verify(key, &feedback, at(10)),
            Err(AckLinkError::BadSignature)
        );
        // Even a feedback token whose target text reads like an alert number is refused.
        let forged = sign(key, Purpose::Feedback, "7", "bob", at(3600), &[3; 12]);
        assert_eq!(
            verify(key, &forged, at(10)),
            Err(AckLinkError::BadSignature)
        );
    }
}
