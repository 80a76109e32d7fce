//! The static files Talaka serves, compiled into the binary and served from an allow-list.
//!
//! There is no filesystem access here at all: a name that is not in [`FILES`] is a 404, so
//! `../`, encoded dots and any other path trick have nothing to reach.
//!
//! Vendored: htmx 2.0.11 (`htmx.org@2.0.11` from the npm registry, 0BSD; licence in
//! `static/htmx.LICENSE`), file `package/dist/htmx.min.js`,
//! sha256 `d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717`.
//! See `static/VENDORED.md` for how to check and update it.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file that may be served under `/static/{name}`.
#[derive(Debug)]
pub struct StaticFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The allow-list.
pub const FILES: &[StaticFile] = &[
    StaticFile {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/htmx.min.js"),
    },
    StaticFile {
        name: "talaka.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../static/talaka.css"),
    },
    StaticFile {
        name: "favicon.svg",
        content_type: "image/svg+xml; charset=utf-8",
        body: include_bytes!("../static/favicon.svg"),
    },
];

/// How long browsers may keep a static file. The files change only with a new release.
pub const CACHE_CONTROL: &str = "public, max-age=86400";

/// The allow-listed file called exactly `name`, if any.
pub fn get(name: &str) -> Option<&'static StaticFile> {
    FILES.iter().find(|f| f.name == name)
}

impl StaticFile {
    /// A strong entity tag: the first 128 bits of the body's SHA-256, computed once.
    pub fn etag(&self) -> &'static str {
        static TAGS: OnceLock<Vec<String>> = OnceLock::new();
        let tags = TAGS.get_or_init(|| {
            FILES
                .iter()
                .map(|f| {
                    let digest = talaka_core::crypto::token_fingerprint(
                        // The fingerprint helper hashes text; every allow-listed file is UTF-8
                        // (checked by the tests), and a lossy conversion would still be stable.
                        &String::from_utf8_lossy(f.body),
                    );
                    format!("\"{}\"", &digest[..32])
                })
                .collect()
        });
        FILES
            .iter()
            .position(|f| f.name == self.name)
            .and_then(|i| tags.get(i))
            .map_or("", String::as_str)
    }
}

/// `GET /static/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(file) = get(&name) else {
        return (
            StatusCode::NOT_FOUND,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            "not found",
        )
            .into_response();
    };
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.body,
    )
        .into_response();
    let tag = file.etag();
    if !tag.is_empty()
        && let Ok(tag) = HeaderValue::from_str(tag)
    {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}
