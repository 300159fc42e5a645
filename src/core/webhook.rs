//! Outbound webhooks, Standard Webhooks style (<https://www.standardwebhooks.com>):
//! the secret format (`whsec_<base64>`), the signature
//! (`webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.body">`), its
//! verification, the payload `{type, timestamp, data}`, and the mapping of the
//! origin's event kinds (`push-published`) to dotted webhook types (`push.published`)
//! with the embargo rule for events before publication. Pure: the caller passes
//! the clock and the bytes; no sockets, files or database here.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header names of the Standard Webhooks specification.
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a receiver's clock may be from the signed timestamp (the specification's
/// suggested tolerance).
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// Types of events that happen before an advisory is public. They go only to
/// webhooks that list them in `events`, and carry ids only (embargo).
pub const PRE_PUBLICATION: &[&str] = &[
    "push.created",
    "package.uploaded",
    "push.accepted",
    "push.staged",
    "push.approved",
    "push.cancelled",
    "push.failed",
];

/// Every type a webhook can name in `events`.
pub const ALL_TYPES: &[&str] = &[
    "push.created",
    "package.uploaded",
    "push.accepted",
    "push.staged",
    "push.approved",
    "push.cancelled",
    "push.failed",
    "push.break-glass",
    "push.published",
    "publish.started",
    "publish.finished",
    "repo.published",
    "metalink.updated",
    "partner.data",
    "partner.committed",
    "partner.verified",
    "partner.retrying",
    "partner.failed",
    "host.healthy",
    "host.unhealthy",
    "advisory.retired",
    "keys.changed",
    "repokey.prepared",
    "repokey.switched",
    "repokey.retired",
];

/// The webhook type of an origin event kind: the first `-` becomes a `.`
/// (`push-published` → `push.published`, `partner-verified` → `partner.verified`).
pub fn type_of(kind: &str) -> String {
    kind.replacen('-', ".", 1)
}

/// Whether a type is an embargoed, pre-publication type.
pub fn is_pre_publication(kind_type: &str) -> bool {
    PRE_PUBLICATION.contains(&kind_type)
}

/// Whether a webhook with the given `events` filter (None = the default) gets
/// events of this type. The default is every public type; pre-publication types
/// only when named.
pub fn wants(events: Option<&[String]>, kind_type: &str) -> bool {
    match events {
        Some(list) => list.iter().any(|e| e == kind_type),
        None => !is_pre_publication(kind_type),
    }
}

/// The origin event as the webhook payload sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventData {
    pub kind: String,
    pub message: String,
    pub push_id: Option<i64>,
    pub advisory: Option<String>,
    pub at_ms: i64,
}

/// The JSON body `{type, timestamp, data}`. `timestamp` is the event's time
/// (RFC 3339, UTC). Pre-publication events carry the push id only: no advisory id,
/// no message (which may name packages).
pub fn payload(event: &EventData) -> String {
    let kind_type = type_of(&event.kind);
    let mut data = serde_json::Map::new();
    if let Some(id) = event.push_id {
        data.insert("push_id".into(), id.into());
    }
    if !is_pre_publication(&kind_type) {
        if let Some(advisory) = &event.advisory {
            data.insert("advisory".into(), advisory.clone().into());
        }
        data.insert("message".into(), event.message.clone().into());
    }
    serde_json::json!({
        "type": kind_type,
        "timestamp": rfc3339_ms(event.at_ms),
        "data": data,
    })
    .to_string()
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    let ms = at_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Decodes a `whsec_<base64>` secret (the prefix is optional) into key bytes.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.trim();
    let b64 = b64.strip_prefix("whsec_").unwrap_or(b64);
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the secret is not whsec_ followed by base64: {e}"))?;
    if key.len() < 16 {
        return Err(format!(
            "the secret has {} bytes; use at least 16 (24 to 64 random bytes, base64, after whsec_)",
            key.len()
        ));
    }
    Ok(key)
}

/// The `webhook-signature` header value for one message.
pub fn sign(key: &[u8], id: &str, timestamp_secs: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Why a delivery did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    BadTimestamp,
    TooOld,
    TooNew,
    NoMatch,
}

/// The receiver's side: checks the timestamp against `now_secs` (± [`TOLERANCE_SECS`])
/// and that one of the space-separated `v1,` signatures matches, in constant time.
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: u64,
) -> Result<(), VerifyError> {
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    if now_secs > ts + TOLERANCE_SECS {
        return Err(VerifyError::TooOld);
    }
    if ts > now_secs + TOLERANCE_SECS {
        return Err(VerifyError::TooNew);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    for part in signature_header.split(' ') {
        let Some(b64) = part.strip_prefix("v1,") else {
            continue;
        };
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if mac.clone().verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

/// The delay before retry number `attempts` (1 = the first retry): 5 s doubling,
/// capped at 6 h; with [`MAX_ATTEMPTS`] the retries span more than a day.
pub fn backoff_ms(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    (5_000i64 << exp).min(6 * 3_600_000)
}

/// Attempts after which a message is given up (logged, kept in the outbox).
pub const MAX_ATTEMPTS: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: u64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let key = decode_secret(VECTOR_SECRET).unwrap();
        assert_eq!(sign(&key, VECTOR_ID, VECTOR_TS, VECTOR_BODY), VECTOR_SIG);
        assert_eq!(
            verify(
                &key,
                VECTOR_ID,
                "1614265330",
                VECTOR_SIG,
                VECTOR_BODY,
                VECTOR_TS + 10
            ),
            Ok(())
        );
    }

    #[test]
    fn verify_rejects_any_change_and_stale_timestamps() {
        let key = decode_secret(VECTOR_SECRET).unwrap();
        let ts = VECTOR_TS.to_string();
        let now = VECTOR_TS;
        let v = |k: &[u8], id: &str, ts: &str, sig: &str, body: &[u8], now: u64| {
            verify(k, id, ts, sig, body, now)
        };
        // Every single-byte change of the body fails.
        for i in 0..VECTOR_BODY.len() {
            let mut body = VECTOR_BODY.to_vec();
            body[i] ^= 1;
            assert_eq!(
                v(&key, VECTOR_ID, &ts, VECTOR_SIG, &body, now),
                Err(VerifyError::NoMatch)
            );
        }
        assert_eq!(
            v(&key, "msg_other", &ts, VECTOR_SIG, VECTOR_BODY, now),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            v(&key, VECTOR_ID, "1614265331", VECTOR_SIG, VECTOR_BODY, now),
            Err(VerifyError::NoMatch)
        );
        let mut other_key = key.clone();
        other_key[0] ^= 1;
        assert_eq!(
            v(&other_key, VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, now),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            v(
                &key,
                VECTOR_ID,
                &ts,
                VECTOR_SIG,
                VECTOR_BODY,
                now + TOLERANCE_SECS + 1
            ),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            v(
                &key,
                VECTOR_ID,
                &ts,
                VECTOR_SIG,
                VECTOR_BODY,
                now - TOLERANCE_SECS - 1
            ),
            Err(VerifyError::TooNew)
        );
        assert_eq!(
            v(&key, VECTOR_ID, "soon", VECTOR_SIG, VECTOR_BODY, now),
            Err(VerifyError::BadTimestamp)
        );
        for bad in [
            "",
            "v1,",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,!!!",
        ] {
            assert_eq!(
                v(&key, VECTOR_ID, &ts, bad, VECTOR_BODY, now),
                Err(VerifyError::NoMatch)
            );
        }
        // A rotated key: any one of several signatures may match.
        let both = format!("v1,AAAA {VECTOR_SIG}");
        assert_eq!(v(&key, VECTOR_ID, &ts, &both, VECTOR_BODY, now), Ok(()));
    }

    #[test]
    fn secrets_must_be_base64_and_long_enough() {
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_c2hvcnQ=").is_err());
        assert!(decode_secret("whsec_").is_err());
        assert_eq!(
            decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .len(),
            24
        );
    }

    #[test]
    fn every_emitted_kind_maps_to_a_listed_dotted_type() {
        for kind in [
            "push-created",
            "package-uploaded",
            "push-accepted",
            "push-staged",
            "push-approved",
            "push-cancelled",
            "push-failed",
            "push-published",
            "publish-started",
            "publish-finished",
            "repo-published",
            "metalink-updated",
            "partner-verified",
            "partner-failed",
            "host-healthy",
            "host-unhealthy",
            "advisory-retired",
            "keys-changed",
            "repokey-prepared",
            "repokey-switched",
            "repokey-retired",
        ] {
            let t = type_of(kind);
            assert!(ALL_TYPES.contains(&t.as_str()), "{kind} -> {t}");
            assert_eq!(t.matches('.').count(), 1, "{t}");
        }
        for t in PRE_PUBLICATION {
            assert!(ALL_TYPES.contains(t));
        }
    }

    #[test]
    fn pre_publication_events_need_opt_in_and_carry_ids_only() {
        for &t in ALL_TYPES {
            let pre = is_pre_publication(t);
            assert_eq!(wants(None, t), !pre, "{t}");
            assert!(wants(Some(&[t.to_owned()]), t));
            assert!(!wants(Some(&[]), t));
            let body = payload(&EventData {
                kind: t.replacen('.', "-", 1),
                message: "SECRET-MESSAGE openssl-3.2.1".into(),
                push_id: Some(7),
                advisory: Some("FEDORA-SECRET-2026".into()),
                at_ms: 1_700_000_000_123,
            });
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["type"], t);
            assert_eq!(json["data"]["push_id"], 7);
            assert_eq!(json["timestamp"], "2023-11-14T22:13:20.123Z");
            assert_eq!(body.contains("SECRET"), !pre, "{t}: {body}");
        }
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn backoff_grows_and_retries_span_more_than_a_day() {
        let mut total = 0;
        for a in 1..MAX_ATTEMPTS {
            assert!(backoff_ms(a + 1) >= backoff_ms(a));
            assert!(backoff_ms(a) <= 6 * 3_600_000);
            total += backoff_ms(a);
        }
        assert!(total > 24 * 3_600_000, "{total}");
    }
}
