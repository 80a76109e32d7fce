//! A fake S3 server for tests, on `127.0.0.1` with a random port, objects in memory.
//!
//! One bucket and one key pair. It checks every request the way S3 does: the `Authorization`
//! header is parsed and the Signature V4 recomputed from the request as received (`403
//! InvalidAccessKeyId`, `403 SignatureDoesNotMatch`, `403 AccessDenied` when `host`,
//! `x-amz-date` or `x-amz-content-sha256` are not signed), `x-amz-date` must be within 15 minutes
//! (`403 RequestTimeTooSkewed`), and the body must match `x-amz-content-sha256` (`400
//! XAmzContentSHA256Mismatch`). Then path-style `PUT` (with `If-None-Match: *` → `412
//! PreconditionFailed` when the object exists), `GET`, `HEAD` (`404 NoSuchKey`) and `DELETE`
//! (`204` whether or not the object existed, like S3); another bucket is `404 NoSuchBucket`.
//!
//! The test side reads and changes what is stored ([`FakeS3::objects`], [`FakeS3::set_object`])
//! and makes the next requests fail ([`FakeS3::fail_next`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::sigv4;

/// A failure the fake answers instead of the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `500 InternalError`, nothing done.
    ServerError,
    /// The request is carried out, then answered with `500` (an answer lost on the way).
    ServerErrorAfter,
    /// No answer for an hour.
    Hang,
}

/// A request as the fake answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// The object key (after the bucket), decoded.
    pub key: String,
    pub status: u16,
    /// The request carried `If-None-Match: *`.
    pub if_none_match: bool,
}

struct State {
    objects: BTreeMap<String, Vec<u8>>,
    faults: VecDeque<Fault>,
    seen: Vec<Seen>,
}

struct Shared {
    bucket: String,
    access_key_id: String,
    secret: String,
    region: String,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake server; stops when dropped.
pub struct FakeS3 {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeS3")
            .field("addr", &self.addr)
            .field("bucket", &self.shared.bucket)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeS3 {
    /// Start on `127.0.0.1:0` with one empty `bucket` and one key pair, signing region `region`.
    pub async fn start(
        bucket: &str,
        access_key_id: &str,
        secret_access_key: &str,
        region: &str,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            bucket: bucket.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret: secret_access_key.to_owned(),
            region: region.to_owned(),
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                faults: VecDeque::new(),
                seen: Vec::new(),
            }),
        });
        let app = Router::new().fallback({
            let shared = shared.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { handle(&shared, method, uri, headers, body).await }
            }
        });
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake S3 server stopped");
            }
        });
        Ok(Self { shared, addr, task })
    }

    /// `http://127.0.0.1:PORT`, the store's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every stored object: key → bytes as received.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.shared.lock().objects.clone()
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.lock().objects.get(key).cloned()
    }

    /// Store (or replace) an object behind the client's back.
    pub fn set_object(&self, key: &str, bytes: Vec<u8>) {
        self.shared.lock().objects.insert(key.to_owned(), bytes);
    }

    /// Answer the next request with `fault` (queued in order).
    pub fn fail_next(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// The requests answered so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code}</Message></Error>"
    );
    (status, [("content-type", "application/xml")], body).into_response()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Credential=AK/DATE/REGION/s3/aws4_request, SignedHeaders=a;b, Signature=hex`.
struct Auth<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_auth(value: &str) -> Option<Auth<'_>> {
    let rest = value.strip_prefix(sigv4::ALGORITHM)?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let mut c = credential?.split('/');
    let auth = Auth {
        access_key_id: c.next()?,
        date: c.next()?,
        region: c.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    };
    (c.next()? == sigv4::SERVICE && c.next()? == "aws4_request" && c.next().is_none())
        .then_some(auth)
}

/// `None` when the request is properly signed; the refusal otherwise.
fn check_signature(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let denied = || Some(error(StatusCode::FORBIDDEN, "AccessDenied"));
    let Some(auth) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_auth)
    else {
        return denied();
    };
    if auth.access_key_id != shared.access_key_id {
        return Some(error(StatusCode::FORBIDDEN, "InvalidAccessKeyId"));
    }
    if auth.region != shared.region {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
        ));
    }
    for required in ["host", "x-amz-date", "x-amz-content-sha256"] {
        if !auth.signed_headers.contains(&required) {
            return denied();
        }
    }
    let header = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let Some(amz_date) = header("x-amz-date") else {
        return denied();
    };
    let Some(payload) = header("x-amz-content-sha256") else {
        return denied();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match sigv4::parse_amz_date(&amz_date) {
        Some(t) if (t - now).abs() <= 15 * 60 && amz_date.starts_with(auth.date) => {}
        Some(_) => return Some(error(StatusCode::FORBIDDEN, "RequestTimeTooSkewed")),
        None => return denied(),
    }
    if payload != "UNSIGNED-PAYLOAD" && payload != sigv4::sha256_hex(body) {
        return Some(error(StatusCode::BAD_REQUEST, "XAmzContentSHA256Mismatch"));
    }
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        let Some(value) = header(name) else {
            return denied();
        };
        signed.push((name.to_string(), value));
    }
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    query.sort_unstable();
    let (canonical, _) = sigv4::canonical_request(
        method.as_str(),
        uri.path(),
        &query.join("&"),
        &pairs,
        &payload,
    );
    let scope = sigv4::scope(auth.date, auth.region);
    let to_sign = sigv4::string_to_sign(&amz_date, &scope, &canonical);
    let expected = sigv4::signature(&shared.secret, auth.date, auth.region, &to_sign);
    (expected != auth.signature).then(|| error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch"))
}

async fn handle(
    shared: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let key = percent_decode(key);
    let if_none_match = headers
        .get("if-none-match")
        .is_some_and(|v| v.as_bytes() == b"*");
    let fault = shared.lock().faults.pop_front();
    let response = match fault {
        Some(Fault::ServerError) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
        Some(Fault::ServerErrorAfter) => {
            answer(shared, &method, &uri, &headers, &body, bucket, &key);
            error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
        None => answer(shared, &method, &uri, &headers, &body, bucket, &key),
    };
    shared.lock().seen.push(Seen {
        method: method.as_str().to_owned(),
        key,
        status: response.status().as_u16(),
        if_none_match,
    });
    response
}

fn answer(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    bucket: &str,
    key: &str,
) -> Response {
    if let Some(refusal) = check_signature(shared, method, uri, headers, body) {
        return refusal;
    }
    if bucket != shared.bucket {
        return error(StatusCode::NOT_FOUND, "NoSuchBucket");
    }
    if key.is_empty() {
        return error(StatusCode::NOT_IMPLEMENTED, "NotImplemented");
    }
    let mut state = shared.lock();
    match *method {
        Method::PUT => {
            let if_none_match = headers.get("if-none-match").map(|v| v.as_bytes());
            match if_none_match {
                Some(b"*") if state.objects.contains_key(key) => {
                    error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
                }
                Some(b"*") | None => {
                    state.objects.insert(key.to_owned(), body.to_vec());
                    StatusCode::OK.into_response()
                }
                Some(_) => error(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
            }
        }
        Method::GET | Method::HEAD => match state.objects.get(key) {
            Some(bytes) => (StatusCode::OK, bytes.clone()).into_response(),
            None if *method == Method::HEAD => StatusCode::NOT_FOUND.into_response(),
            None => error(StatusCode::NOT_FOUND, "NoSuchKey"),
        },
        Method::DELETE => {
            state.objects.remove(key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
    }
}
