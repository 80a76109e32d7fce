//! [`S3BlobStore`]: blobs as objects in an S3-compatible bucket (AWS S3, MinIO, Garage, Ceph).
//!
//! Path-style URLs, `{endpoint}/{bucket}/{prefix}{blob id}`, signed with AWS Signature Version 4
//! ([`crate::sigv4`]); `x-amz-content-sha256` is the SHA-256 of the body, so the body is signed
//! too. What is sent is the sealed blob (encrypted here, the blob id as associated data): the
//! storage provider sees only ciphertext under a random name.
//!
//! - `put` sends `If-None-Match: *`, so an upload never overwrites an object. A transient failure
//!   (no answer, timeout, 5xx) is retried with the same id and bytes; a `412` on such a retry
//!   is success when the object holds exactly those bytes (the earlier attempt landed and only
//!   its answer was lost).
//! - `get` maps `404` to [`BlobError::NotFound`] and a blob that does not decrypt to
//!   [`BlobError::Tampered`].
//! - `delete` asks with `HEAD` first (S3's `DELETE` answers `204` whether or not there was an
//!   object), so it can return `false` for a blob that was not there.
//! - `check` writes and deletes a probe object: the endpoint is reachable, the keys are right
//!   and the bucket is writable.
//!
//! Every request has a timeout. Errors name the operation and the HTTP status with S3's error
//! code (`SignatureDoesNotMatch`, `NoSuchBucket`…), never the secret key, a signature or the
//! server's error text (S3 echoes the string it expected to be signed).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use talaka_core::Secret;
use talaka_core::crypto::{SecretKey, hex, random_bytes};

use crate::sigv4;
use crate::{BlobError, BlobId, BlobKey, BlobStore};

/// Where the bucket is and how to sign in. The secret never reaches `Debug`.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`… (no bucket in it).
    pub endpoint: String,
    pub bucket: String,
    /// The signing region (`us-east-1` for most self-hosted services).
    pub region: String,
    /// Put before every object key, e.g. `talaka/photos/`.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    /// Longest a single request may take.
    pub timeout: Duration,
}

impl S3Settings {
    /// Settings with the default region, no prefix and a 30-second timeout.
    pub fn new(
        endpoint: &str,
        bucket: &str,
        access_key_id: &str,
        secret_access_key: Secret<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            bucket: bucket.to_owned(),
            region: "us-east-1".into(),
            prefix: String::new(),
            access_key_id: access_key_id.to_owned(),
            secret_access_key,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Attempts per request in all (the first included) for transient failures.
const ATTEMPTS: u32 = 3;

/// Blobs in an S3-compatible bucket, sealed before they leave the machine.
#[derive(Clone)]
pub struct S3BlobStore {
    http: reqwest::Client,
    /// `scheme://authority`, no trailing slash.
    origin: String,
    /// The `Host` header reqwest will send (port only when not the scheme's default).
    host: String,
    /// `/{bucket}/{prefix}`, URI-encoded; object paths are this plus the id.
    base_path: String,
    bucket: String,
    region: String,
    prefix: String,
    access_key_id: String,
    secret: Secret<String>,
    timeout: Duration,
    retry_pause: Duration,
    key: BlobKey,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("endpoint", &self.origin)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn config(what: &str) -> BlobError {
    BlobError::Storage(format!("S3 settings: {what}"))
}

/// A response as far as the store cares.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// An earlier attempt of this request failed transiently.
    retried: bool,
}

/// S3's `<Code>` from an error body, when it looks like one (letters only, short). Nothing else
/// of the body is ever shown: S3 echoes the canonical request and string to sign.
fn s3_code(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(code)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}

impl S3BlobStore {
    /// A store on the bucket in `settings` under a key derived from `key`. Checks the settings'
    /// form but makes no request (see [`BlobStore::check`]).
    pub fn new(settings: S3Settings, key: &SecretKey) -> Result<Self, BlobError> {
        let endpoint = settings.endpoint.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(endpoint)
            .map_err(|_| config("the endpoint is not a URL (e.g. https://s3.example.org)"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config("the endpoint must start with http:// or https://"));
        }
        let Some(host_name) = url.host_str() else {
            return Err(config("the endpoint has no host"));
        };
        if !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
            || url.path() != "/"
        {
            return Err(config(
                "the endpoint must be scheme://host[:port] only, without the bucket, a path or credentials",
            ));
        }
        let host = match url.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_owned(),
        };
        let bucket = settings.bucket.trim();
        if bucket.is_empty() || bucket.contains('/') {
            return Err(config("the bucket must be a bucket name"));
        }
        if settings.prefix.starts_with('/') {
            return Err(config("the prefix must not start with /"));
        }
        let region = settings.region.trim();
        if region.is_empty() {
            return Err(config("the region is empty"));
        }
        if settings.access_key_id.trim().is_empty() {
            return Err(config("the access key id is empty"));
        }
        if settings.secret_access_key.expose().is_empty() {
            return Err(config("the secret access key is empty"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BlobError::Storage(format!("S3 client: {}", error_chain(&e))))?;
        Ok(Self {
            http,
            origin: format!("{}://{}", url.scheme(), host),
            host,
            base_path: sigv4::encode_path(&format!("/{bucket}/{}", settings.prefix)),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            prefix: settings.prefix,
            access_key_id: settings.access_key_id.trim().to_owned(),
            secret: settings.secret_access_key,
            timeout: settings.timeout,
            retry_pause: Duration::from_millis(200),
            key: BlobKey::derive(key),
        })
    }

    /// The pause before the first retry (doubled before each further one). For tests.
    pub fn with_retry_pause(mut self, pause: Duration) -> Self {
        self.retry_pause = pause;
        self
    }

    /// The object key a blob is stored under: the prefix and the id.
    pub fn object_key(&self, id: &BlobId) -> String {
        format!("{}{}", self.prefix, id.as_str())
    }

    fn path_of(&self, name: &str) -> String {
        format!("{}{}", self.base_path, sigv4::encode_path(name))
    }

    /// Store `plain`, sealed, as blob `id`; refused by the server (`412`) when an object by that
    /// name exists. [`BlobStore::put`] is this with a new random id.
    pub async fn put_as(&self, id: &BlobId, plain: &[u8]) -> Result<(), BlobError> {
        let sealed = self.key.seal(id, plain)?;
        self.put_object("put", &self.path_of(id.as_str()), sealed)
            .await
    }

    async fn put_object(&self, op: &str, path: &str, body: Vec<u8>) -> Result<(), BlobError> {
        let a = self
            .send(op, reqwest::Method::PUT, path, body.clone(), true)
            .await?;
        let exists = || {
            BlobError::Storage(format!(
                "S3 {op} refused: HTTP 412 PreconditionFailed (an object with this name exists; nothing was overwritten)"
            ))
        };
        match a.status {
            200..=299 => Ok(()),
            // After a lost answer: success if the object is what our earlier attempt sent.
            412 if a.retried => {
                let stored = self
                    .send(op, reqwest::Method::GET, path, Vec::new(), false)
                    .await?;
                if stored.status == 200 && stored.body == body {
                    Ok(())
                } else {
                    Err(exists())
                }
            }
            412 => Err(exists()),
            _ => Err(self.refused(op, &a)),
        }
    }

    fn refused(&self, op: &str, a: &Answer) -> BlobError {
        let code = s3_code(&a.body).unwrap_or("no S3 error code");
        let hint = match code {
            "SignatureDoesNotMatch" => " (check elections.s3.secret_access_key)",
            "InvalidAccessKeyId" => " (check elections.s3.access_key_id)",
            "NoSuchBucket" => " (check elections.s3.bucket)",
            "AuthorizationHeaderMalformed" => " (check elections.s3.region)",
            "RequestTimeTooSkewed" => " (check this machine's clock)",
            _ => "",
        };
        BlobError::Storage(format!("S3 {op} refused: HTTP {} {code}{hint}", a.status))
    }

    /// One signed request, retried on transient failures (no answer, timeout, 5xx, 429).
    async fn send(
        &self,
        op: &str,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        if_none_match: bool,
    ) -> Result<Answer, BlobError> {
        let mut pause = self.retry_pause;
        let mut retried = false;
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(&method, path, &body, if_none_match).await;
            let transient = match &outcome {
                Ok((status, _)) => *status >= 500 || *status == 429,
                Err(_) => true,
            };
            if !transient || attempt >= ATTEMPTS {
                return match outcome {
                    Ok((status, body)) if transient => Err(self.refused(
                        op,
                        &Answer {
                            status,
                            body,
                            retried,
                        },
                    )),
                    Ok((status, body)) => Ok(Answer {
                        status,
                        body,
                        retried,
                    }),
                    Err(e) => Err(BlobError::Storage(format!("S3 {op} failed: {e}"))),
                };
            }
            tracing::warn!(op, attempt, "S3 request failed; retrying");
            tokio::time::sleep(pause).await;
            pause *= 2;
            retried = true;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        path: &str,
        body: &[u8],
        if_none_match: bool,
    ) -> Result<(u16, Vec<u8>), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let amz_date = sigv4::amz_date(now);
        let payload = sigv4::sha256_hex(body);
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-amz-content-sha256", &payload),
            ("x-amz-date", &amz_date),
        ];
        if if_none_match {
            headers.push(("if-none-match", "*"));
        }
        let (canonical, signed) =
            sigv4::canonical_request(method.as_str(), path, "", &headers, &payload);
        let scope = sigv4::scope(&amz_date[..8], &self.region);
        let to_sign = sigv4::string_to_sign(&amz_date, &scope, &canonical);
        let signature =
            sigv4::signature(self.secret.expose(), &amz_date[..8], &self.region, &to_sign);
        let authorization = sigv4::authorization(&self.access_key_id, &scope, &signed, &signature);

        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.origin))
            .timeout(self.timeout)
            .header("authorization", authorization)
            .header("x-amz-content-sha256", &payload)
            .header("x-amz-date", &amz_date);
        if if_none_match {
            req = req.header("if-none-match", "*");
        }
        if *method == reqwest::Method::PUT {
            req = req.body(body.to_vec());
        }
        let describe = |e: reqwest::Error| {
            let e = e.without_url();
            if e.is_timeout() {
                format!("no answer within {} s", self.timeout.as_secs_f32())
            } else {
                format!("cannot reach the S3 endpoint: {}", error_chain(&e))
            }
        };
        let res = req.send().await.map_err(describe)?;
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(describe)?;
        Ok((status, body.to_vec()))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, plain: &[u8]) -> Result<BlobId, BlobError> {
        let id = BlobId::random()?;
        self.put_as(&id, plain).await?;
        Ok(id)
    }

    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let a = self
            .send(
                "get",
                reqwest::Method::GET,
                &self.path_of(id.as_str()),
                Vec::new(),
                false,
            )
            .await?;
        match a.status {
            200 => self.key.open(id, &a.body),
            404 => Err(BlobError::NotFound),
            _ => Err(self.refused("get", &a)),
        }
    }

    async fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        let path = self.path_of(id.as_str());
        let head = self
            .send("head", reqwest::Method::HEAD, &path, Vec::new(), false)
            .await?;
        match head.status {
            200..=299 => {}
            404 => return Ok(false),
            _ => return Err(self.refused("head", &head)),
        }
        let a = self
            .send("delete", reqwest::Method::DELETE, &path, Vec::new(), false)
            .await?;
        match a.status {
            200..=299 | 404 => Ok(true),
            _ => Err(self.refused("delete", &a)),
        }
    }

    async fn check(&self) -> Result<(), BlobError> {
        let tag = random_bytes::<8>().map_err(|e| BlobError::Io(e.to_string()))?;
        let path = self.path_of(&format!(".talaka-write-check-{}", hex(&tag)));
        self.put_object(
            "start-up check (put a probe object)",
            &path,
            b"probe".to_vec(),
        )
        .await?;
        let op = "start-up check (delete the probe object)";
        let a = self
            .send(op, reqwest::Method::DELETE, &path, Vec::new(), false)
            .await?;
        match a.status {
            200..=299 => Ok(()),
            _ => Err(self.refused(op, &a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> S3Settings {
        S3Settings::new(endpoint, "photos", "AK", Secret::new("sk".into()))
    }

    #[test]
    fn endpoints_are_checked_and_keys_laid_out() {
        let key = SecretKey::generate().unwrap();
        for bad in [
            "s3.example.org",
            "ftp://s3.example.org",
            "https://s3.example.org/photos",
            "https://user:pw@s3.example.org",
        ] {
            let e = S3BlobStore::new(settings(bad), &key).unwrap_err();
            assert!(matches!(e, BlobError::Storage(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        let mut s = settings("https://S3.Example.org:443/");
        s.prefix = "talaka/photos/".into();
        let store = S3BlobStore::new(s, &key).unwrap();
        assert_eq!(store.host, "s3.example.org");
        let id = BlobId::parse(&"a".repeat(32)).unwrap();
        assert_eq!(store.object_key(&id), format!("talaka/photos/{id}"));
        assert_eq!(
            format!("{}{}", store.origin, store.path_of(id.as_str())),
            format!("https://s3.example.org/photos/talaka/photos/{id}")
        );
        let store = S3BlobStore::new(settings("http://127.0.0.1:9000"), &key).unwrap();
        assert_eq!(store.host, "127.0.0.1:9000");
        assert!(!format!("{store:?}").contains("sk"));
    }

    #[test]
    fn only_the_error_code_is_taken_from_an_error_body() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
            <StringToSign>AWS4-HMAC-SHA256 secret stuff</StringToSign></Error>";
        assert_eq!(s3_code(body), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_code(b"<Code>a b</Code>"), None);
        assert_eq!(s3_code(b"<html>proxy error</html>"), None);
    }
}
