//! S3 block store: one object per block in a bucket (AWS or any S3-protocol server).
//!
//! The [`BlockStore`] trait is synchronous and its callers are plain threads (the
//! uploader, a data core on a cache miss), while rusoto is async on tokio. The store
//! therefore owns one small multi-thread tokio runtime (2 workers named
//! `dittofs-s3`) that drives the HTTP connections, and each call `block_on`s its
//! request future from the caller's thread: no runtime per call, and no tokio
//! anywhere else in the process. Calling from inside a tokio runtime is refused
//! with an error (tokio would panic).
//!
//! Reliability: every request has a timeout and transient failures (5xx,
//! timeouts, connection errors) are retried with exponential backoff and full
//! jitter ([`super::s3_retry`]); 4xx are not retried, and 401/403 come back as
//! [`BlockStoreError::Denied`], logged once at error level with the bucket and
//! endpoint. Objects above `multipart_threshold_bytes` are sent as a multipart
//! upload of [`PART_BYTES`] parts, each part retried on its own; a failed
//! multipart upload is aborted so no parts are left behind. Reads are ranged GETs.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dittofs_shards::{BlockStore, BlockStoreError};
use futures_lite::StreamExt;
use rusoto_core::{ByteStream, HttpClient, Region, RusotoError};
use rusoto_credential::{ChainProvider, StaticProvider};
use rusoto_s3::{
    AbortMultipartUploadRequest, CompleteMultipartUploadRequest, CompletedMultipartUpload,
    CompletedPart, CreateMultipartUploadRequest, DeleteObjectRequest, GetObjectError,
    GetObjectRequest, HeadBucketError, HeadBucketRequest, HeadObjectRequest, ListObjectsV2Error,
    ListObjectsV2Request, PutObjectRequest, S3Client, UploadPartRequest, S3,
};

use super::s3_retry::{classify, Backoff, Failure, Jitter};
use crate::config::S3BlockStoreConfig;

/// Size of each part of a multipart upload (the last may be smaller).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Worker threads of the store's tokio runtime: they only drive sockets.
const RUNTIME_WORKERS: usize = 2;

/// Block store in an S3 bucket.
pub struct S3BlockStore {
    client: S3Client,
    /// Taken in `drop` to shut it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    bucket: String,
    prefix: String,
    /// For messages: the endpoint URL, or "AWS REGION".
    endpoint: String,
    multipart_threshold_bytes: u64,
    list_page_keys: i64,
    retries_max: u32,
    backoff: Backoff,
    request_timeout: Duration,
    jitter: Mutex<Jitter>,
    requests_sent: AtomicU64,
    denied_logged: AtomicBool,
}

fn transient_body_error(e: std::io::Error) -> Failure {
    Failure::Transient(format!("reading the response body: {e}"))
}

fn stream_of(data: Bytes) -> ByteStream {
    let len = data.len();
    ByteStream::new_with_size(
        futures_lite::stream::once(Ok::<Bytes, std::io::Error>(data)),
        len,
    )
}

impl S3BlockStore {
    /// Connects to the bucket of `cfg` and checks (HeadBucket, with retries) that it
    /// exists and the credentials may use it: a missing bucket is an `Io` error
    /// naming bucket and endpoint, refused credentials are `Denied`.
    /// `cfg` is assumed validated ([`S3BlockStoreConfig::validate`]).
    pub fn open(cfg: &S3BlockStoreConfig) -> Result<S3BlockStore, BlockStoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKERS)
            .thread_name("dittofs-s3")
            .enable_all()
            .build()
            .map_err(|e| BlockStoreError::Io(format!("cannot start the S3 runtime: {e}")))?;
        let endpoint = cfg
            .endpoint
            .as_ref()
            .map(|e| e.trim_end_matches('/').to_owned());
        let described = endpoint
            .clone()
            .unwrap_or_else(|| format!("AWS {}", cfg.region));
        let region = match &endpoint {
            Some(url) => Region::Custom {
                name: cfg.region.clone(),
                endpoint: url.clone(),
            },
            None => cfg
                .region
                .parse::<Region>()
                .map_err(|e| BlockStoreError::Io(format!("S3 region {:?}: {e}", cfg.region)))?,
        };
        let needs_tls = endpoint.as_ref().is_none_or(|e| e.starts_with("https://"));
        let client = {
            let _context = runtime.enter();
            let tls = tls_config(needs_tls)?;
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .build();
            let http = HttpClient::from_connector(connector);
            match (&cfg.access_key_id, &cfg.secret_access_key) {
                (Some(key), Some(secret)) => S3Client::new_with(
                    http,
                    StaticProvider::new_minimal(key.clone(), secret.clone()),
                    region,
                ),
                _ => S3Client::new_with(http, ChainProvider::new(), region),
            }
        };
        let store = S3BlockStore {
            client,
            runtime: Some(runtime),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.clone(),
            endpoint: described,
            multipart_threshold_bytes: cfg.multipart_threshold_bytes,
            list_page_keys: i64::from(cfg.list_page_keys.max(1)),
            retries_max: cfg.retries_max,
            backoff: Backoff::new(cfg.retry_base_delay_ms),
            request_timeout: Duration::from_millis(cfg.request_timeout_ms),
            jitter: Mutex::new(Jitter::from_entropy()),
            requests_sent: AtomicU64::new(0),
            denied_logged: AtomicBool::new(false),
        };
        store.check_bucket()?;
        log::info!(
            "S3 block store: bucket {} at {} (prefix {:?})",
            store.bucket,
            store.endpoint,
            store.prefix
        );
        Ok(store)
    }

    /// HTTP requests sent so far, retries included (for tests and metrics).
    pub fn requests_sent(&self) -> u64 {
        self.requests_sent.load(Ordering::Relaxed)
    }

    /// The bucket this store writes to.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn check_bucket(&self) -> Result<(), BlockStoreError> {
        let bucket = self.bucket.clone();
        let result = self.run(self.call("HeadBucket", "", || {
            let req = HeadBucketRequest {
                bucket: bucket.clone(),
                ..Default::default()
            };
            async move {
                self.client.head_bucket(req).await.map_err(|e| match e {
                    RusotoError::Service(HeadBucketError::NoSuchBucket(_)) => Failure::NotFound,
                    other => classify(other),
                })
            }
        }));
        match result {
            Ok(_) => Ok(()),
            Err(BlockStoreError::NotFound(_)) => {
                let msg = format!(
                    "S3 bucket {:?} does not exist at {}; create it first",
                    self.bucket, self.endpoint
                );
                log::error!("{msg}");
                Err(BlockStoreError::Io(msg))
            }
            Err(e) => Err(e),
        }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `fut` to completion on the store's runtime, from the caller's thread.
    fn run<T>(
        &self,
        fut: impl Future<Output = Result<T, BlockStoreError>>,
    ) -> Result<T, BlockStoreError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(BlockStoreError::Io(
                "S3 block store called from inside a tokio runtime; call it from a plain thread"
                    .to_owned(),
            ));
        }
        match &self.runtime {
            Some(rt) => rt.block_on(fut),
            None => Err(BlockStoreError::Io(
                "S3 block store is shut down".to_owned(),
            )),
        }
    }

    /// Sends the request `attempt` makes, with a timeout, retrying transient
    /// failures with backoff; turns the final failure into a [`BlockStoreError`].
    async fn call<T, F, Fut>(
        &self,
        op: &'static str,
        key: &str,
        mut attempt: F,
    ) -> Result<T, BlockStoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retry = 0u32;
        loop {
            self.requests_sent.fetch_add(1, Ordering::Relaxed);
            let result = match tokio::time::timeout(self.request_timeout, attempt()).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Transient(format!(
                    "no complete answer within {} ms",
                    self.request_timeout.as_millis()
                ))),
            };
            let failure = match result {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            match failure {
                Failure::Transient(msg) if retry < self.retries_max => {
                    let delay = {
                        let mut jitter = self.jitter.lock().unwrap_or_else(|p| p.into_inner());
                        self.backoff.delay(retry, &mut jitter)
                    };
                    retry += 1;
                    crate::metrics::upload_retry();
                    log::warn!(
                        "S3 {op} {}/{key} at {}: {msg}; retry {retry}/{} in {} ms",
                        self.bucket,
                        self.endpoint,
                        self.retries_max,
                        delay.as_millis()
                    );
                    tokio::time::sleep(delay).await;
                }
                other => return Err(self.error(op, key, other, retry + 1)),
            }
        }
    }

    fn error(&self, op: &str, key: &str, failure: Failure, tries: u32) -> BlockStoreError {
        let at = format!("S3 {op} {}/{key} at {}", self.bucket, self.endpoint);
        match failure {
            Failure::NotFound => BlockStoreError::NotFound(key.to_owned()),
            Failure::Denied(msg) => {
                let msg = format!(
                    "{at}: access denied ({msg}); check the credentials and the bucket policy"
                );
                if !self.denied_logged.swap(true, Ordering::Relaxed) {
                    log::error!("{msg}");
                } else {
                    log::debug!("{msg}");
                }
                BlockStoreError::Denied(msg)
            }
            Failure::Transient(msg) => {
                BlockStoreError::Io(format!("{at}: {msg} (gave up after {tries} tries)"))
            }
            Failure::Permanent(msg) => BlockStoreError::Io(format!("{at}: {msg}")),
            Failure::RangeNotSatisfiable => {
                BlockStoreError::Io(format!("{at}: range not satisfiable"))
            }
        }
    }

    async fn put_single(&self, key: &str, data: &Bytes) -> Result<(), BlockStoreError> {
        let full = self.full_key(key);
        self.call("PutObject", key, || {
            let req = PutObjectRequest {
                bucket: self.bucket.clone(),
                key: full.clone(),
                content_length: Some(data.len() as i64),
                body: Some(stream_of(data.clone())),
                ..Default::default()
            };
            async move {
                self.client
                    .put_object(req)
                    .await
                    .map(|_| ())
                    .map_err(classify)
            }
        })
        .await
    }

    async fn put_multipart(&self, key: &str, data: &Bytes) -> Result<(), BlockStoreError> {
        let full = self.full_key(key);
        let upload_id = self
            .call("CreateMultipartUpload", key, || {
                let req = CreateMultipartUploadRequest {
                    bucket: self.bucket.clone(),
                    key: full.clone(),
                    ..Default::default()
                };
                async move {
                    let out = self
                        .client
                        .create_multipart_upload(req)
                        .await
                        .map_err(classify)?;
                    out.upload_id
                        .ok_or_else(|| Failure::Permanent("no UploadId in the answer".into()))
                }
            })
            .await?;
        let result = self.upload_parts(key, &full, &upload_id, data).await;
        if result.is_err() {
            // Best effort, one try: a bucket lifecycle rule reaps what this misses.
            let req = AbortMultipartUploadRequest {
                bucket: self.bucket.clone(),
                key: full.clone(),
                upload_id: upload_id.clone(),
                ..Default::default()
            };
            self.requests_sent.fetch_add(1, Ordering::Relaxed);
            let abort = tokio::time::timeout(
                self.request_timeout,
                self.client.abort_multipart_upload(req),
            )
            .await;
            if !matches!(abort, Ok(Ok(_))) {
                log::warn!(
                    "S3 {}/{full} at {}: could not abort multipart upload {upload_id}",
                    self.bucket,
                    self.endpoint
                );
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        data: &Bytes,
    ) -> Result<(), BlockStoreError> {
        let mut parts = Vec::new();
        for (index, start) in (0..data.len()).step_by(PART_BYTES).enumerate() {
            let part = data.slice(start..(start + PART_BYTES).min(data.len()));
            let number = index as i64 + 1;
            let e_tag = self
                .call("UploadPart", key, || {
                    let req = UploadPartRequest {
                        bucket: self.bucket.clone(),
                        key: full.to_owned(),
                        upload_id: upload_id.to_owned(),
                        part_number: number,
                        content_length: Some(part.len() as i64),
                        body: Some(stream_of(part.clone())),
                        ..Default::default()
                    };
                    async move {
                        let out = self.client.upload_part(req).await.map_err(classify)?;
                        Ok(out.e_tag)
                    }
                })
                .await?;
            parts.push(CompletedPart {
                e_tag,
                part_number: Some(number),
            });
        }
        self.call("CompleteMultipartUpload", key, || {
            let req = CompleteMultipartUploadRequest {
                bucket: self.bucket.clone(),
                key: full.to_owned(),
                upload_id: upload_id.to_owned(),
                multipart_upload: Some(CompletedMultipartUpload {
                    parts: Some(parts.clone()),
                }),
                ..Default::default()
            };
            async move {
                self.client
                    .complete_multipart_upload(req)
                    .await
                    .map(|_| ())
                    .map_err(classify)
            }
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<(), BlockStoreError> {
        let full = self.full_key(key);
        self.call("HeadObject", key, || {
            let req = HeadObjectRequest {
                bucket: self.bucket.clone(),
                key: full.clone(),
                ..Default::default()
            };
            async move {
                self.client
                    .head_object(req)
                    .await
                    .map(|_| ())
                    .map_err(classify)
            }
        })
        .await
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        let full = self.full_key(key);
        // `len` may be u64::MAX ("to the end"): then the range is open-ended.
        let range = match offset.checked_add(len) {
            Some(end) => format!("bytes={offset}-{}", end - 1),
            None => format!("bytes={offset}-"),
        };
        self.call("GetObject", key, || {
            let req = GetObjectRequest {
                bucket: self.bucket.clone(),
                key: full.clone(),
                range: Some(range.clone()),
                ..Default::default()
            };
            async move {
                let out = match self.client.get_object(req).await {
                    Ok(out) => out,
                    Err(RusotoError::Service(GetObjectError::NoSuchKey(_))) => {
                        return Err(Failure::NotFound)
                    }
                    Err(e) => {
                        return match classify(e) {
                            // The object exists but ends before `offset`.
                            Failure::RangeNotSatisfiable => Ok(Bytes::new()),
                            f => Err(f),
                        };
                    }
                };
                let capacity = out.content_length.unwrap_or(0).clamp(0, 64 << 20) as usize;
                let mut buf = BytesMut::with_capacity(capacity);
                if let Some(mut body) = out.body {
                    while let Some(chunk) = body.next().await {
                        buf.extend_from_slice(&chunk.map_err(transient_body_error)?);
                    }
                }
                let buf = buf.freeze();
                let have = buf.len() as u64;
                if out.content_range.is_none() {
                    // The server ignored the Range header and sent the whole object.
                    let start = offset.min(have) as usize;
                    let end = offset.saturating_add(len).min(have) as usize;
                    return Ok(buf.slice(start..end));
                }
                Ok(buf.slice(..len.min(have) as usize))
            }
        })
        .await
    }

    async fn delete_object(&self, key: &str) -> Result<(), BlockStoreError> {
        let full = self.full_key(key);
        let result = self
            .call("DeleteObject", key, || {
                let req = DeleteObjectRequest {
                    bucket: self.bucket.clone(),
                    key: full.clone(),
                    ..Default::default()
                };
                async move {
                    self.client
                        .delete_object(req)
                        .await
                        .map(|_| ())
                        .map_err(classify)
                }
            })
            .await;
        match result {
            Err(BlockStoreError::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        let full = self.full_key(prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call("ListObjectsV2", prefix, || {
                    let req = ListObjectsV2Request {
                        bucket: self.bucket.clone(),
                        prefix: Some(full.clone()),
                        max_keys: Some(self.list_page_keys),
                        continuation_token: token.clone(),
                        ..Default::default()
                    };
                    async move {
                        self.client.list_objects_v2(req).await.map_err(|e| match e {
                            RusotoError::Service(ListObjectsV2Error::NoSuchBucket(_)) => {
                                Failure::Permanent("the bucket does not exist".into())
                            }
                            other => classify(other),
                        })
                    }
                })
                .await?;
            for object in page.contents.unwrap_or_default() {
                if let Some(key) = object
                    .key
                    .as_deref()
                    .and_then(|k| k.strip_prefix(&self.prefix))
                {
                    keys.push(key.to_owned());
                }
            }
            match page.next_continuation_token {
                Some(next) if page.is_truncated == Some(true) => token = Some(next),
                _ => break,
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// rustls settings with the system's CA certificates. Their absence is an
/// error only when TLS will be used (AWS, or an https:// endpoint).
fn tls_config(needs_tls: bool) -> Result<rustls::ClientConfig, BlockStoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match rustls_native_certs::load_native_certs() {
        Ok(certs) => {
            for cert in certs {
                let _ = roots.add(&rustls::Certificate(cert.0));
            }
        }
        Err(e) if needs_tls => {
            return Err(BlockStoreError::Io(format!(
                "cannot load the system's CA certificates: {e}"
            )))
        }
        Err(_) => {}
    }
    if needs_tls && roots.is_empty() {
        return Err(BlockStoreError::Io(
            "no CA certificates found for the https S3 endpoint; install ca-certificates"
                .to_owned(),
        ));
    }
    Ok(rustls::ClientConfig::builder()
        .with_safe_defaults()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl BlockStore for S3BlockStore {
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError> {
        self.run(async {
            if data.len() as u64 > self.multipart_threshold_bytes {
                self.put_multipart(key, &data).await
            } else {
                self.put_single(key, &data).await
            }
        })
    }

    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        self.run(async {
            if len == 0 {
                // No byte range names zero bytes: only check that the object exists.
                return self.exists(key).await.map(|_| Bytes::new());
            }
            self.get_range(key, offset, len).await
        })
    }

    fn delete(&self, key: &str) -> Result<(), BlockStoreError> {
        self.run(self.delete_object(key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        self.run(self.list_keys(prefix))
    }
}

impl Drop for S3BlockStore {
    fn drop(&mut self) {
        // Does not block, and is allowed even inside another runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
