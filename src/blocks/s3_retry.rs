//! Which S3 failures are worth retrying, and how long to wait between tries.
//!
//! Kept apart from the client so both can be unit-tested without a server:
//! classification is a pure function of the rusoto error (or of an HTTP status
//! and body), and the backoff schedule is a pure function of the attempt number
//! and a seeded jitter source.
//!
//! Policy: 5xx, 408, 429, timeouts, connection errors and garbled responses are
//! transient and retried; 401/403 are authorization failures ([`Failure::Denied`])
//! and every other 4xx is a permanent error: retrying them only delays a clear
//! message. Backoff is "full jitter" (a uniform random delay in
//! `0..min(cap, base × 2^attempt)`), which spreads out clients that failed together.

use std::fmt::Display;
use std::time::Duration;

use rusoto_core::RusotoError;

/// Longest wait between two tries, whatever the attempt number.
pub const RETRY_DELAY_CAP_MS: u64 = 20_000;

/// What a failed request means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another try (5xx, timeout, connection error).
    Transient(String),
    /// The object (or bucket, for HeadBucket) does not exist.
    NotFound,
    /// 401/403 or missing credentials: retrying cannot help.
    Denied(String),
    /// HTTP 416: the range starts at or past the object's end.
    RangeNotSatisfiable,
    /// Any other error; not retried.
    Permanent(String),
}

impl Failure {
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient(_))
    }
}

/// Classifies an HTTP error status and the start of its body (S3's XML error).
pub fn classify_status(status: u16, body: &str) -> Failure {
    let code = s3_error_code(body);
    let what = match &code {
        Some(c) => format!("HTTP {status} {c}"),
        None => format!("HTTP {status}"),
    };
    match status {
        404 => Failure::NotFound,
        401 | 403 => Failure::Denied(what),
        416 => Failure::RangeNotSatisfiable,
        408 | 429 => Failure::Transient(what),
        // S3 answers a stalled upload with 400 RequestTimeout: a transient error.
        400 if code.as_deref() == Some("RequestTimeout") => Failure::Transient(what),
        500..=599 => Failure::Transient(what),
        _ => Failure::Permanent(what),
    }
}

/// `<Code>X</Code>` of an S3 XML error body.
fn s3_error_code(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    Some(body[start..start + len].to_owned())
}

/// Classifies a rusoto error. Service errors (`E`) are the typed S3 errors
/// rusoto parsed (NoSuchKey, NoSuchBucket, …): callers that expect one
/// handle it before calling this; here they are permanent.
pub fn classify<E: Display>(err: RusotoError<E>) -> Failure {
    match err {
        RusotoError::Unknown(resp) => {
            let body = String::from_utf8_lossy(&resp.body[..resp.body.len().min(2048)]);
            classify_status(resp.status.as_u16(), &body)
        }
        RusotoError::HttpDispatch(e) => Failure::Transient(format!("connection: {e}")),
        RusotoError::ParseError(e) => Failure::Transient(format!("unparsable response: {e}")),
        RusotoError::Credentials(e) => Failure::Denied(format!("credentials: {e}")),
        RusotoError::Validation(e) => Failure::Permanent(format!("invalid request: {e}")),
        RusotoError::Service(e) => Failure::Permanent(e.to_string()),
        RusotoError::Blocking => Failure::Permanent("blocking call failed".to_owned()),
    }
}

/// A small, seedable pseudo-random source (SplitMix64): enough for jitter, and
/// deterministic in tests.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn seeded(seed: u64) -> Jitter {
        Jitter { state: seed }
    }

    /// Seeded from the clock and the process id: different per store and run.
    pub fn from_entropy() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter::seeded(nanos ^ (u64::from(std::process::id()) << 32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max` (modulo bias is irrelevant for jitter).
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base_ms: u64,
    pub cap_ms: u64,
}

impl Backoff {
    pub fn new(base_ms: u64) -> Backoff {
        Backoff {
            base_ms,
            cap_ms: RETRY_DELAY_CAP_MS.max(base_ms),
        }
    }

    /// The ceiling of the wait before retry `attempt` (0 = first retry):
    /// `min(cap, base × 2^attempt)`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.cap_ms)
    }

    /// The wait before retry `attempt`: uniform in `0..=ceiling_ms(attempt)`.
    pub fn delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        Duration::from_millis(jitter.up_to(self.ceiling_ms(attempt)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rusoto_core::request::{BufferedHttpResponse, HttpDispatchError};
    use rusoto_s3::GetObjectError;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff::new(100);
        let ceilings: Vec<u64> = (0..10).map(|a| b.ceiling_ms(a)).collect();
        assert_eq!(
            ceilings,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000, 20000]
        );
        assert_eq!(b.ceiling_ms(200), 20_000, "no overflow on huge attempts");
        assert_eq!(Backoff::new(30_000).ceiling_ms(0), 30_000, "cap >= base");
    }

    #[test]
    fn delays_are_deterministic_for_a_seed_and_within_the_ceiling() {
        let b = Backoff::new(100);
        let run = |seed| {
            let mut j = Jitter::seeded(seed);
            (0..8).map(|a| b.delay(a, &mut j)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let mut j = Jitter::seeded(7);
        let mut sum = [0u64; 3];
        for _ in 0..2000 {
            for (a, s) in sum.iter_mut().enumerate() {
                let d = b.delay(a as u32, &mut j).as_millis() as u64;
                assert!(d <= b.ceiling_ms(a as u32));
                *s += d;
            }
        }
        // Full jitter: the mean is about half the ceiling (50, 100, 200 ms).
        for (a, s) in sum.iter().enumerate() {
            let mean = *s as f64 / 2000.0;
            let half = b.ceiling_ms(a as u32) as f64 / 2.0;
            assert!((mean - half).abs() < half * 0.1, "attempt {a}: mean {mean}");
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify_status(404, ""), Failure::NotFound);
        assert_eq!(classify_status(416, ""), Failure::RangeNotSatisfiable);
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(classify_status(s, "").is_transient(), "{s}");
        }
        let body = "<Error><Code>SignatureDoesNotMatch</Code></Error>";
        assert_eq!(
            classify_status(403, body),
            Failure::Denied("HTTP 403 SignatureDoesNotMatch".into())
        );
        assert!(matches!(classify_status(401, ""), Failure::Denied(_)));
        assert!(matches!(classify_status(400, ""), Failure::Permanent(_)));
        assert!(classify_status(400, "<Code>RequestTimeout</Code>").is_transient());
        assert!(matches!(classify_status(409, ""), Failure::Permanent(_)));
    }

    #[test]
    fn rusoto_errors_are_classified() {
        let resp = |status: u16, body: &'static str| BufferedHttpResponse {
            status: http::StatusCode::from_u16(status).unwrap(),
            body: Bytes::from_static(body.as_bytes()),
            headers: Default::default(),
        };
        let e = RusotoError::<GetObjectError>::Unknown(resp(503, "<Code>SlowDown</Code>"));
        assert_eq!(classify(e), Failure::Transient("HTTP 503 SlowDown".into()));
        let e = RusotoError::<GetObjectError>::Unknown(resp(403, "<Code>AccessDenied</Code>"));
        assert!(matches!(classify(e), Failure::Denied(_)));
        let e = RusotoError::<GetObjectError>::HttpDispatch(HttpDispatchError::new(
            "connection refused".into(),
        ));
        assert!(classify(e).is_transient());
        let e = RusotoError::<GetObjectError>::Credentials(
            rusoto_credential::CredentialsError::new("no credentials"),
        );
        assert!(matches!(classify(e), Failure::Denied(_)));
        let e = RusotoError::<GetObjectError>::Validation("bad".into());
        assert!(matches!(classify(e), Failure::Permanent(_)));
    }
}
