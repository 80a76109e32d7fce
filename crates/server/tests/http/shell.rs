//! What every response carries, and the operational endpoints.

use talaka_core::user::Role;

use crate::support::*;

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .expect("ascii");
    for part in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: CSP lacks {part}: {csp}");
    }
    assert_eq!(
        h.get("x-content-type-options")
            .map(|v| v.to_str().expect("a")),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        h.get("referrer-policy").map(|v| v.to_str().expect("a")),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        h.get("x-frame-options").map(|v| v.to_str().expect("a")),
        Some("DENY"),
        "{what}"
    );
    assert!(h.get("server").is_none(), "{what}: no Server header");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let anon = app.client();
    let staff = app.signed_in("anna", Role::Observer).await;
    for (what, res) in [
        ("login page", anon.get("/login").await),
        ("redirect", anon.get("/").await),
        ("404", anon.get("/nothing-here").await),
        ("static", anon.get("/static/talaka.css").await),
        ("healthz", anon.get("/healthz").await),
        ("csrf refusal", anon.post_form_raw("/login", &[]).await),
        ("403", staff.get("/admin/users").await),
        ("signed-in page", staff.get("/").await),
        ("api", staff.get("/api/v1/me").await),
    ] {
        assert_security_headers(&res, what);
        if what == "signed-in page" || what == "api" {
            assert_eq!(
                res.headers()
                    .get("cache-control")
                    .map(|v| v.to_str().expect("a")),
                Some("no-store"),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn healthz_and_metrics() {
    let app = spawn_app().await;
    let c = app.client();
    let res = c.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    c.get("/login").await;
    let metrics = c.get("/metrics").await.text().await.expect("body");
    assert!(metrics.contains("talaka_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/login\""), "{metrics}");
    assert!(metrics.contains("talaka_jobs"), "{metrics}");

    let guarded =
        spawn_app_with(|s| s.metrics_token = Some(talaka_core::Secret::new("scrape-token".into())))
            .await;
    let c = guarded.client();
    assert_eq!(c.get("/metrics").await.status(), 401);
    let res = c
        .http
        .get(c.url("/metrics"))
        .bearer_auth("scrape-token")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn language_from_accept_language_or_the_visitors_choice() {
    let app = spawn_app().await;
    let c = app.client();
    let res = c
        .http
        .get(c.url("/login"))
        .header("accept-language", "be-BY,be;q=0.9,en;q=0.5")
        .send()
        .await
        .expect("GET");
    assert!(res.text().await.expect("body").contains("lang=\"be\""));
    let res = c
        .http
        .get(c.url("/login"))
        .header("accept-language", "ru-RU")
        .send()
        .await
        .expect("GET");
    assert!(res.text().await.expect("body").contains("lang=\"ru\""));
    assert!(
        c.get("/login")
            .await
            .text()
            .await
            .expect("body")
            .contains("lang=\"en\"")
    );
    let res = c
        .post_form("/lang", &[("lang", "ru"), ("back", "/login")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login");
    assert!(
        c.get("/login")
            .await
            .text()
            .await
            .expect("body")
            .contains("lang=\"ru\"")
    );
    // No open redirect.
    let res = c
        .post_form("/lang", &[("lang", "en"), ("back", "//evil.example/")])
        .await;
    assert_eq!(location(&res), "/");
}

#[tokio::test]
async fn oversized_forms_are_refused() {
    let app = spawn_app().await;
    let c = app.client();
    let token = c.csrf().await;
    let big = "x".repeat(200 * 1024);
    let res = c
        .http
        .post(c.url("/login"))
        .form(&[
            ("username", big.as_str()),
            ("password", "p"),
            ("csrf", token.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn database_failures_show_a_generic_message_and_healthz_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = std::sync::Arc::new(
        talaka_store_sqlite::SqliteStore::open(&dir.path().join("t.db"))
            .await
            .expect("open"),
    );
    talaka_store::Store::migrate(sqlite.as_ref())
        .await
        .expect("migrate");
    let app = spawn_app_on(sqlite.clone(), |_| {}).await;
    let c = app.signed_in("anna", Role::Admin).await;
    assert_eq!(c.get("/healthz").await.status(), 200);
    sqlite.close().await;
    let res = c.get("/admin/users").await;
    assert_eq!(res.status(), 503);
    assert_security_headers(&res, "503");
    let body = res.text().await.expect("body").to_lowercase();
    assert!(body.contains("<html"), "an error page");
    for detail in ["sqlx", "pool", "sqlite", "closed", "database error"] {
        assert!(!body.contains(detail), "the page shows {detail:?}");
    }
    assert_eq!(c.get("/healthz").await.status(), 503);
    assert!(
        logs_text().contains("session lookup failed"),
        "the detail goes to the log"
    );
}

#[tokio::test]
async fn only_pages_hand_out_a_pre_session_cookie() {
    let app = spawn_app().await;
    let c = app.client();
    for path in ["/healthz", "/metrics", "/static/talaka.css"] {
        assert!(
            c.get(path).await.headers().get("set-cookie").is_none(),
            "{path}"
        );
    }
    assert!(c.get("/login").await.headers().get("set-cookie").is_some());
}
