//! Verified Slack requests per second on one core: `oauth_slack::verify_request` (the headers
//! read, the timestamp and signature parsed, the window checked, the HMAC compared in constant
//! time), and that followed by the envelope's decoding, against a bare HMAC-SHA256 of the same
//! signed bytes (the floor), interleaved in every round and paired by round.

use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use hmac::{Hmac, Mac as _};
use oauth_slack::{
    EventRequest, SIGNATURE_HEADER, SigningSecret, TIMESTAMP_HEADER, sign_request, verify_request,
};
use sha2::Sha256;

use crate::report::{Report, median, ops};

const ROUNDS: usize = 9;
/// How long each measurement of one round runs.
const SLICE: Duration = Duration::from_millis(300);
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// An `event_callback` as Slack sends it (a `tokens_revoked`), about 500 bytes.
const SMALL: &str = r#"{"token":"XXYYZZ","team_id":"T0123ABCD","api_app_id":"A0123ABCD","event":{"type":"tokens_revoked","tokens":{"oauth":["U0123ABCD","U0456EFGH"],"bot":["U0789IJKL"]},"event_ts":"1700000000.000100"},"type":"event_callback","event_id":"Ev0123ABCDEF","event_time":1700000000,"authorizations":[{"enterprise_id":null,"team_id":"T0123ABCD","user_id":"U0789IJKL","is_bot":true,"is_enterprise_install":false}],"is_ext_shared_channel":false,"event_context":"4-eyJldCI6InRva2Vuc19yZXZva2VkIiwidGlkIjoiVDAxMjNBQkNEIiwiYWlkIjoiQTAxMjNBQkNEIn0"}"#;

/// A `message` event with blocks, about 4 KiB.
fn large() -> String {
    let blocks: Vec<String> = (0..24)
        .map(|i| {
            format!(
                r#"{{"type":"rich_text","block_id":"b{i:03}","elements":[{{"type":"rich_text_section","elements":[{{"type":"text","text":"line {i} of a long message with some words in it"}}]}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"token":"XXYYZZ","team_id":"T0123ABCD","api_app_id":"A0123ABCD","event":{{"type":"message","channel":"C0123ABCD","user":"U0123ABCD","text":"hello","ts":"1700000000.000200","blocks":[{}]}},"type":"event_callback","event_id":"Ev0456ABCDEF","event_time":1700000000,"authorizations":[{{"enterprise_id":null,"team_id":"T0123ABCD","user_id":"U0789IJKL","is_bot":true,"is_enterprise_install":false}}],"is_ext_shared_channel":false}}"#,
        blocks.join(",")
    )
}

/// Runs `op` for about `SLICE` on this thread; operations per second.
fn measure(mut op: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < SLICE {
        for _ in 0..64 {
            op();
        }
        count += 64;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

pub(crate) fn run(report: &mut Report) {
    let secret = SigningSecret::new(SECRET);
    let timestamp = "1700000000";
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut rows = String::new();
    for (name, body) in [
        ("`tokens_revoked` event, 0.5 KiB", SMALL.to_owned()),
        ("`message` event with blocks", large()),
    ] {
        let body = body.into_bytes();
        let mut headers = http::HeaderMap::new();
        let (Ok(stamp), Ok(signature)) = (
            timestamp.parse::<http::HeaderValue>(),
            sign_request(&secret, timestamp, &body).parse::<http::HeaderValue>(),
        ) else {
            eprintln!("signature benchmark skipped: unusable header value");
            return;
        };
        headers.insert(TIMESTAMP_HEADER, stamp);
        headers.insert(SIGNATURE_HEADER, signature);
        if let Err(e) = verify_request(&secret, &headers, &body, now) {
            eprintln!("signature benchmark skipped: {e}");
            return;
        }
        let (mut ours, mut floor, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut decoded, mut decoded_ratios) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let verified = measure(|| {
                black_box(
                    verify_request(
                        &secret,
                        black_box(&headers),
                        black_box(&body),
                        black_box(now),
                    )
                    .is_ok(),
                );
            });
            let bare = measure(|| {
                black_box(bare_hmac(SECRET.as_bytes(), timestamp, black_box(&body)));
            });
            let whole = measure(|| {
                let accepted = verify_request(
                    &secret,
                    black_box(&headers),
                    black_box(&body),
                    black_box(now),
                );
                black_box(accepted.is_ok() && EventRequest::decode(black_box(&body)).is_ok());
            });
            ratios.push(verified / bare);
            decoded_ratios.push(whole / bare);
            decoded.push(whole);
            ours.push(verified);
            floor.push(bare);
        }
        let (ours, floor, ratio) = (median(&mut ours), median(&mut floor), median(&mut ratios));
        let (whole, whole_ratio) = (median(&mut decoded), median(&mut decoded_ratios));
        rows.push_str(&format!(
            "| {name} | {} B | {} | {} ({ratio:.2}×) | {} ({whole_ratio:.2}×) |\n",
            body.len(),
            ops(floor),
            ops(ours),
            ops(whole),
        ));
    }
    report.section(format!(
        "## Slack request verification\n\nVerified Slack requests per second on one core: \
         `oauth_slack::verify_request` (both headers read, the timestamp and the `v0=` signature \
         parsed, the 5-minute window checked, the HMAC-SHA256 of `v0:{{timestamp}}:{{body}}` compared \
         in constant time) against a bare HMAC-SHA256 of the same bytes with the `hmac` crate (the \
         floor: keying, hashing, finalizing, no comparison), and the whole path of the events \
         endpoint before its handler: verification then `EventRequest::decode` of the envelope. \
         The three are interleaved, {} ms each per \
         round, {ROUNDS} rounds; figures are medians, and the ratio is the median of each round's \
         ratio to the floor (1.00× = as fast as the bare HMAC).\n\n\
         | body | size | bare HMAC-SHA256 | `verify_request` | verified and decoded |\n\
         | --- | --- | --- | --- | --- |\n{rows}",
        SLICE.as_millis()
    ));
}

/// The floor: the HMAC of the signed bytes, nothing else.
fn bare_hmac(key: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.finalize().into_bytes().into()
}
