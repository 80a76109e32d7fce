//! The two layers every request passes.
//!
//! [`outer`]: security headers on every response (errors and 404s included), metrics, and one
//! log line per request carrying the route template, never the raw path.
//!
//! [`guard`]: works out who the visitor is (session cookie → session → user; expired, idle or
//! disabled sessions end here), their language and CSRF token; refuses state-changing requests
//! without a valid token or from a foreign origin; applies the route table's access rule
//! (deny by default); and renders error pages for error responses nobody rendered.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::{ct_eq, random_token, token_fingerprint};
use talaka_core::user::UserId;
use talaka_store::{Session, User};

use crate::cookies::{self, Cookie};
use crate::error::{ErrorKey, Rendered, message_key, render};
use crate::i18n::Lang;
use crate::routes::{self, Access};
use crate::views::{Chrome, ChromeUser, ErrorPage};
use crate::{AppState, MAX_BODY_BYTES};

/// The signed-in account behind a request.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
}

/// Who is asking, as worked out by the guard. Handlers take it with `Extension<Visitor>`.
#[derive(Clone, Debug)]
pub struct Visitor {
    pub signed_in: Option<SignedIn>,
    /// The CSRF token forms must echo.
    pub csrf: String,
    pub lang: Lang,
    /// Path and query of this request, for the language switch to return to.
    pub path: String,
    /// The peer address (for login throttling only; never logged or stored raw).
    pub peer: String,
}

impl Visitor {
    pub fn user(&self) -> Option<&User> {
        self.signed_in.as_ref().map(|s| &s.user)
    }

    pub fn user_id(&self) -> Option<UserId> {
        self.user().map(|u| u.id)
    }

    pub fn actor(&self) -> Actor {
        self.user_id().map_or(Actor::Anonymous, Actor::User)
    }

    pub fn chrome(&self) -> Chrome {
        Chrome {
            lang: self.lang,
            csrf: self.csrf.clone(),
            user: self.user().map(|u| ChromeUser {
                username: u.username.to_string(),
                role: u.role,
                can_manage_users: u.role.can(talaka_core::user::Permission::ManageUsers),
                can_view_audit: u.role.can(talaka_core::user::Permission::ViewAudit),
            }),
            path: self.path.clone(),
        }
    }
}

/// Put on a response by the guard so that [`outer`] can log the user id.
#[derive(Clone, Copy, Debug)]
struct LogUser(UserId);

const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'self'; img-src 'self' data:";

pub async fn outer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let mut res = next.run(req).await;
    // The matched path is only known inside the router; the guard copies it onto the response.
    let route = res
        .extensions()
        .get::<RouteName>()
        .map_or(route, |r| r.0.to_owned());
    set_security_headers(res.headers_mut(), state.settings().https);
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics()
        .observe_request(method.as_str(), &route, status, elapsed);
    let user = res.extensions().get::<LogUser>().map(|u| u.0.0);
    tracing::info!(
        method = %method,
        route = %route,
        status,
        ms = elapsed.as_millis() as u64,
        user,
        "request"
    );
    res
}

#[derive(Clone, Copy, Debug)]
struct RouteName(&'static str);

fn set_security_headers(h: &mut HeaderMap, https: bool) {
    let mut headers: Vec<(HeaderName, &'static str)> = vec![
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ),
    ];
    if https {
        headers.push((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        headers.push((header::CACHE_CONTROL, "no-store"));
    }
    for (name, value) in headers {
        // A handler may set a policy of its own for one page (the self-contained forensics
        // report, whose CSS is inline, under an otherwise stricter policy).
        if name == header::CONTENT_SECURITY_POLICY && h.contains_key(&name) {
            continue;
        }
        h.insert(name, HeaderValue::from_static(value));
    }
    h.remove(header::SERVER);
}

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let https = state.settings().https;
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let spec = matched
        .as_deref()
        .and_then(|p| routes::lookup(req.method().as_str(), p));
    let api = routes::is_api(req.uri().path());
    // Bearer-token API routes render no forms: no CSRF token, no pre-session cookie to make.
    let token_route = spec.is_some_and(crate::api::requires_token);

    // Who is this?
    let (signed_in, session_token, clear_session) =
        match resolve_session(&state, req.headers()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                let v = anonymous_visitor(&state, &req, None, !token_route);
                return finish(
                    error_response(&v.0, StatusCode::SERVICE_UNAVAILABLE, "error.503", api),
                    &v,
                    spec,
                );
            }
        };
    let (mut visitor, new_pre) =
        anonymous_visitor(&state, &req, session_token.as_deref(), !token_route);
    visitor.signed_in = signed_in;
    let visitor = visitor;
    let ctx = (visitor, new_pre);

    let mut req = req;
    // CSRF: every method that may change something, except on bearer-token API routes, which
    // carry no cookies (a browser cannot add an `Authorization` header to a cross-site request).
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !spec.is_some_and(crate::api::requires_token)
        // Telegram's webhook: no cookies either; its secret header is checked by the handler.
        && !spec.is_some_and(crate::telegram::secret_guarded)
        && !spec.is_some_and(crate::safety_bot::secret_guarded)
    {
        if !origin_ok(req.headers(), &state) {
            tracing::warn!(route = ?matched, user = ?ctx.0.user_id(), "refused: foreign origin");
            return finish(
                error_response(&ctx.0, StatusCode::FORBIDDEN, "error.csrf", api),
                &ctx,
                spec,
            );
        }
        let (checked, ok) = match csrf_ok(req, &ctx.0.csrf).await {
            Ok(v) => v,
            Err(status) => {
                let res = error_response(&ctx.0, status, message_key(status), api);
                return finish(res, &ctx, spec);
            }
        };
        req = checked;
        if !ok {
            tracing::warn!(route = ?matched, user = ?ctx.0.user_id(), "refused: missing or wrong CSRF token");
            return finish(
                error_response(&ctx.0, StatusCode::FORBIDDEN, "error.csrf", api),
                &ctx,
                spec,
            );
        }
    }

    // Access: the route table decides.
    if let Some(path) = matched.as_deref() {
        let Some(spec) = spec else {
            let allowed = routes::methods_for(path);
            let status = if allowed.is_empty() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::METHOD_NOT_ALLOWED
            };
            if allowed.is_empty() {
                tracing::error!(route = path, "route missing from the route table; refused");
            }
            let mut res = error_response(&ctx.0, status, message_key(status), api);
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            return finish(res, &ctx, None);
        };
        if let Some(refusal) = check_access(spec.access, &ctx.0, req.method(), api) {
            tracing::warn!(
                route = path,
                method = %req.method(),
                user = ?ctx.0.user_id(),
                role = ?ctx.0.user().map(|u| u.role.as_str()),
                status = refusal.status().as_u16(),
                "access refused"
            );
            return finish(refusal, &ctx, Some(spec));
        }
    }

    req.extensions_mut().insert(ctx.0.clone());
    let mut res = next.run(req).await;
    if clear_session && ctx.0.signed_in.is_none() && !res.headers().contains_key(header::SET_COOKIE)
    {
        res.headers_mut().append(
            header::SET_COOKIE,
            cookie_value(&cookies::set(Cookie::Session, None, https)),
        );
    }
    if (res.status().is_client_error() || res.status().is_server_error())
        && res.extensions().get::<Rendered>().is_none()
    {
        let key = res
            .extensions()
            .get::<ErrorKey>()
            .map_or_else(|| message_key(res.status()), |k| k.0);
        let headers = res.headers().clone();
        let mut page = error_response(&ctx.0, res.status(), key, api);
        if let Some(allow) = headers.get(header::ALLOW) {
            page.headers_mut().insert(header::ALLOW, allow.clone());
        }
        for c in headers.get_all(header::SET_COOKIE) {
            page.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        res = page;
    }
    finish(res, &ctx, spec)
}

/// Add what every guarded response carries: a new pre-session cookie, the log's user id, the
/// route name for metrics.
fn finish(
    mut res: Response,
    ctx: &(Visitor, Option<String>),
    spec: Option<&'static routes::RouteSpec>,
) -> Response {
    let is_page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if let Some(pre) = ctx.1.as_ref().filter(|_| is_page) {
        // A visitor without a session gets a pre-session cookie anchoring the CSRF token in the
        // page's forms. Health checks, metrics and static files need none.
        res.headers_mut()
            .append(header::SET_COOKIE, cookie_value(pre));
    }
    if let Some(id) = ctx.0.user_id() {
        res.extensions_mut().insert(LogUser(id));
    }
    if let Some(spec) = spec {
        res.extensions_mut().insert(RouteName(spec.path));
    }
    res
}

fn cookie_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The visitor without their account (filled in by the caller) and, when they had no cookie
/// to anchor a CSRF token, the `Set-Cookie` for a new pre-session cookie. Without `forms` (a
/// bearer-token API route) the visitor gets no CSRF token at all.
fn anonymous_visitor(
    state: &AppState,
    req: &Request,
    session_token: Option<&str>,
    forms: bool,
) -> (Visitor, Option<String>) {
    let https = state.settings().https;
    let key = &state.settings().key;
    let headers = req.headers();
    let (csrf, new_pre) = match session_token {
        _ if !forms => (String::new(), None),
        Some(token) => (key.keyed_hash("csrf-session", token.as_bytes()), None),
        None => match cookies::read(headers, Cookie::PreSession, https) {
            Some(pre) => (key.keyed_hash("csrf-pre", pre.as_bytes()), None),
            None => match random_token() {
                Ok(pre) => (
                    key.keyed_hash("csrf-pre", pre.expose().as_bytes()),
                    Some(cookies::set(Cookie::PreSession, Some(pre.expose()), https)),
                ),
                // Without randomness no form can be trusted; every POST will fail CSRF.
                Err(_) => (String::new(), None),
            },
        },
    };
    let lang = cookies::read(headers, Cookie::Lang, https)
        .and_then(|c| Lang::parse(&c))
        .unwrap_or_else(|| {
            Lang::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        });
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    (
        Visitor {
            signed_in: None,
            csrf,
            lang,
            path,
            peer,
        },
        new_pre,
    )
}

type Resolved = (Option<SignedIn>, Option<String>, bool);

/// Session cookie → live session. Expired, idle and disabled sessions are deleted here.
async fn resolve_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Resolved, talaka_store::StoreError> {
    let https = state.settings().https;
    let Some(token) = cookies::read(headers, Cookie::Session, https) else {
        return Ok((None, None, false));
    };
    let Some((session, user)) = state
        .store()
        .session_by_fingerprint(&token_fingerprint(&token))
        .await?
    else {
        return Ok((None, None, true));
    };
    let now = state.now();
    let idle_limit = session.last_seen_at.plus(state.settings().session_idle);
    let reason = if now >= session.expires_at {
        Some("lifetime reached")
    } else if now >= idle_limit {
        Some("idle timeout")
    } else if user.disabled {
        Some("account disabled")
    } else {
        None
    };
    if let Some(reason) = reason {
        let audit = NewAudit::new(now, Actor::System, AuditAction::SessionEnded)
            .target(format!("user:{}", user.id))
            .detail(reason);
        state.store().delete_session(session.id, &audit).await?;
        return Ok((None, None, true));
    }
    // Record activity at most once a minute: enough for the idle timeout, few writes.
    if now.millis() - session.last_seen_at.millis() >= 60_000 {
        state.store().touch_session(session.id, now).await?;
    }
    Ok((Some(SignedIn { user, session }), Some(token), false))
}

/// A state-changing request must come from our own pages: `Sec-Fetch-Site` (when sent) must not
/// say cross-site, and `Origin` (when sent) must be ours.
fn origin_ok(headers: &HeaderMap, state: &AppState) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    if origin == state.settings().public_origin {
        return true;
    }
    let scheme = if state.settings().https {
        "https"
    } else {
        "http"
    };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| origin == format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Find the CSRF token in the `X-CSRF-Token` header, the urlencoded form's `csrf` field, or a
/// multipart form's leading `csrf` field; the body is handed on unchanged (a urlencoded body is
/// buffered within the size limit, of a multipart body only its start).
async fn csrf_ok(req: Request, expected: &str) -> Result<(Request, bool), StatusCode> {
    if expected.is_empty() {
        return Ok((req, false));
    }
    if let Some(v) = req.headers().get("x-csrf-token") {
        let ok = v.to_str().is_ok_and(|v| ct_eq(v, expected));
        return Ok((req, ok));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if let Some(boundary) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart_boundary)
    {
        return multipart_csrf_ok(req, &boundary, expected).await;
    }
    if !is_form {
        return Ok((req, false));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
    let ok = form_urlencoded_value(&bytes, "csrf").is_some_and(|v| ct_eq(&v, expected));
    Ok((Request::from_parts(parts, Body::from(bytes)), ok))
}

/// How much of a multipart body is read, at most, to find its leading `csrf` field.
const MULTIPART_CSRF_PREFIX: usize = 16 * 1024;

/// The `boundary` of a `multipart/form-data` content type.
pub(crate) fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 70)
            .then(|| v.to_owned())
    })
}

/// A multipart form (an upload) carries its CSRF token as its FIRST field, named `csrf`, so
/// that a form works without JavaScript: browsers send fields in document order. Only the start
/// of the body is read (at most [`MULTIPART_CSRF_PREFIX`] bytes); the handler receives the body
/// unchanged, streamed on, and applies its own size limit.
async fn multipart_csrf_ok(
    req: Request,
    boundary: &str,
    expected: &str,
) -> Result<(Request, bool), StatusCode> {
    use http_body_util::BodyExt;

    let (parts, mut body) = req.into_parts();
    let mut prefix: Vec<u8> = Vec::new();
    let mut token = None;
    loop {
        match first_field(&prefix, boundary, "csrf") {
            FirstField::Found(v) => {
                token = v;
                break;
            }
            FirstField::NotThere => break,
            FirstField::NeedMore if prefix.len() >= MULTIPART_CSRF_PREFIX => break,
            FirstField::NeedMore => {}
        }
        match body.frame().await {
            None => break,
            Some(Err(_)) => return Err(StatusCode::BAD_REQUEST),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => prefix.extend_from_slice(&data),
                // Request trailers carry no form data.
                Err(_) => break,
            },
        }
    }
    let ok = token.is_some_and(|v| ct_eq(&v, expected));
    let body = Body::new(Prefixed {
        prefix: Some(axum::body::Bytes::from(prefix)),
        rest: body,
    });
    Ok((Request::from_parts(parts, body), ok))
}

enum FirstField {
    /// The first part is complete: its value when it is the field we look for.
    Found(Option<String>),
    /// The body does not start like a multipart form with that field first.
    NotThere,
    NeedMore,
}

/// Looks at the start of a multipart body for a first part that is the text field `name`.
fn first_field(buf: &[u8], boundary: &str, name: &str) -> FirstField {
    let opening = format!("--{boundary}\r\n");
    if buf.len() < opening.len() {
        return if opening.as_bytes().starts_with(buf) {
            FirstField::NeedMore
        } else {
            FirstField::NotThere
        };
    }
    if !buf.starts_with(opening.as_bytes()) {
        return FirstField::NotThere;
    }
    let rest = &buf[opening.len()..];
    let Some(head_end) = find(rest, b"\r\n\r\n") else {
        return FirstField::NeedMore;
    };
    let Ok(head) = std::str::from_utf8(&rest[..head_end]) else {
        return FirstField::NotThere;
    };
    let wanted = format!("name=\"{name}\"");
    let is_field = head.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("content-disposition:")
            && lower.contains("form-data")
            && line.split(';').any(|p| p.trim() == wanted)
            && !lower.contains("filename")
    });
    if !is_field {
        return FirstField::NotThere;
    }
    let value = &rest[head_end + 4..];
    let closing = format!("\r\n--{boundary}");
    match find(value, closing.as_bytes()) {
        Some(end) => FirstField::Found(
            std::str::from_utf8(&value[..end])
                .ok()
                .map(|v| v.trim().to_owned()),
        ),
        None => FirstField::NeedMore,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A body whose first bytes were already read: those bytes, then the rest as it arrives.
struct Prefixed {
    prefix: Option<axum::body::Bytes>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Some(p) = self.prefix.take().filter(|p| !p.is_empty()) {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(p))));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }
}

fn form_urlencoded_value(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `None` when the visitor may use the route; otherwise the refusal.
fn check_access(access: Access, visitor: &Visitor, method: &Method, api: bool) -> Option<Response> {
    let user = visitor.user();
    let wants_page = !api && (*method == Method::GET || *method == Method::HEAD);
    match (access, user) {
        (Access::Public, _) => None,
        (_, None) if wants_page => Some(Redirect::to("/login").into_response()),
        (_, None) => Some(error_response(
            visitor,
            StatusCode::UNAUTHORIZED,
            "error.403",
            api,
        )),
        (Access::Account, Some(_)) => None,
        (_, Some(u)) if u.must_change_password => {
            if wants_page {
                Some(Redirect::to("/account/password").into_response())
            } else {
                Some(error_response(
                    visitor,
                    StatusCode::FORBIDDEN,
                    "error.403",
                    api,
                ))
            }
        }
        (Access::SignedIn, Some(_)) => None,
        (Access::Can(p), Some(u)) if u.role.can(p) => None,
        (Access::Can(_), Some(_)) => Some(error_response(
            visitor,
            StatusCode::FORBIDDEN,
            "error.403",
            api,
        )),
    }
}

/// The error page in the visitor's language, or `{"error": …}` for the API.
pub fn error_response(
    visitor: &Visitor,
    status: StatusCode,
    key: &'static str,
    api: bool,
) -> Response {
    if api {
        let body = serde_json::json!({ "error": visitor.lang.t(key), "status": status.as_u16() });
        let mut res = (status, axum::Json(body)).into_response();
        res.extensions_mut().insert(Rendered);
        return res;
    }
    render(
        status,
        &ErrorPage {
            chrome: visitor.chrome(),
            status: status.as_u16(),
            message_key: key,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_boundaries() {
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=----abc").as_deref(),
            Some("----abc")
        );
        assert_eq!(
            multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"q r\"").as_deref(),
            Some("q r")
        );
        assert_eq!(multipart_boundary("multipart/mixed; boundary=x"), None);
        assert_eq!(multipart_boundary("multipart/form-data"), None);
    }

    #[test]
    fn the_csrf_field_must_come_first() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--b\r\n";
        assert!(matches!(
            first_field(body.as_bytes(), "b", "csrf"),
            FirstField::Found(Some(ref v)) if v == "tok"
        ));
        // Cut anywhere before the end of the value: more is needed.
        for cut in [0, 3, 20, body.len() - 6] {
            assert!(matches!(
                first_field(&body.as_bytes()[..cut], "b", "csrf"),
                FirstField::NeedMore
            ));
        }
        let other = "--b\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\ncec\r\n--b\r\n";
        assert!(matches!(
            first_field(other.as_bytes(), "b", "csrf"),
            FirstField::NotThere
        ));
        // A file named csrf is not the token.
        let file = "--b\r\nContent-Disposition: form-data; name=\"csrf\"; filename=\"x\"\r\n\r\ntok\r\n--b";
        assert!(matches!(
            first_field(file.as_bytes(), "b", "csrf"),
            FirstField::NotThere
        ));
        assert!(matches!(
            first_field(b"garbage that is long enough", "b", "csrf"),
            FirstField::NotThere
        ));
    }
}
