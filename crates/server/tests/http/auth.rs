//! Signing in and out, sessions, passwords, throttling, CSRF, invites, and their audit trail.

use std::time::Duration;

use talaka_core::user::Role;

use crate::support::*;

#[tokio::test]
async fn login_and_logout() {
    login_and_logout_on(spawn_app().await).await;
}

pub async fn login_and_logout_on(app: TestApp) {
    app.add_user("anna", Role::Coordinator).await;
    let c = app.client();

    // Anonymous visitors are sent to the sign-in page.
    let res = c.get("/").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login");

    let res = c.login("Anna", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let session = c.cookie("talaka_session").expect("session cookie");
    assert!(session.len() >= 43, "a 256-bit token");
    let home = c.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(home.text().await.expect("body").contains("anna"));
    let me: serde_json::Value = c.get("/api/v1/me").await.json().await.expect("json");
    assert_eq!(me["username"], "anna");
    assert_eq!(me["role"], "coordinator");

    let res = c.post_form("/logout", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(c.get("/").await.status(), 303, "signed out");
    assert_eq!(c.get("/api/v1/me").await.status(), 401);

    // The old token is dead on the server, not just forgotten by the browser.
    let replay = app.client();
    let res = replay
        .http
        .get(replay.url("/api/v1/me"))
        .header("cookie", format!("talaka_session={session}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 401);

    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"login.succeeded".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"logout".to_owned()), "{actions:?}");
}

#[tokio::test]
async fn session_cookie_flags_and_a_new_token_at_every_login() {
    let app = spawn_app().await;
    app.add_user("anna", Role::Analyst).await;
    let c = app.client();
    let res = c.login("anna", PASSWORD).await;
    let set_cookie: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("talaka_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(!session.contains("Domain"), "{session}");
    let first = c.cookie("talaka_session").expect("cookie");
    c.post_form("/logout", &[]).await;
    c.login("anna", PASSWORD).await;
    let second = c.cookie("talaka_session").expect("cookie");
    assert_ne!(first, second);
}

#[tokio::test]
async fn https_deployments_use_secure_host_prefixed_cookies() {
    let app = spawn_app_with(|s| s.https = true).await;
    let c = app.client();
    let res = c.get("/login").await;
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .expect("pre-session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(set_cookie.starts_with("__Host-talaka_pre="), "{set_cookie}");
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    assert!(res.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    app.add_user("anna", Role::Lawyer).await;
    let c = app.client();
    let wrong = c.login("anna", "not the right password").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.expect("body");
    let unknown = c.login("nobody", "not the right password").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.expect("body");
    assert_eq!(wrong_status, 401);
    assert_eq!(unknown_status, wrong_status);
    // Same page but for the echoed name and the (per-visitor, constant) CSRF token.
    assert_eq!(
        wrong_body.replace("anna", "NAME"),
        unknown_body.replace("nobody", "NAME")
    );
    assert!(c.cookie("talaka_session").is_none());

    // Timing: an unknown name costs an argon2 verification too. Compare medians.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        c.login("anna", "not the right password").await;
        known.push(t.elapsed());
        let t = std::time::Instant::now();
        c.login("nobody", "not the right password").await;
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[1].as_secs_f64(), unknown[1].as_secs_f64());
    assert!(
        u > k * 0.5 && u < k * 2.0,
        "known {k:.3}s vs unknown {u:.3}s"
    );

    let audit = app.store.list_audit(None, 100).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "login.failed" && e.target.is_some())
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "login.failed" && e.target.is_none())
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_with_the_right_password() {
    repeated_failures_are_throttled_even_with_the_right_password_on(spawn_app().await).await;
}

pub async fn repeated_failures_are_throttled_even_with_the_right_password_on(app: TestApp) {
    app.add_user("anna", Role::Observer).await;
    let c = app.client();
    for _ in 0..5 {
        assert_eq!(c.login("anna", "wrong wrong wrong").await.status(), 401);
    }
    let res = c.login("anna", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    // Unknown names are throttled the same way, so throttling reveals nothing.
    for _ in 0..5 {
        c.login("ghost", "wrong wrong wrong").await;
    }
    assert_eq!(c.login("ghost", "wrong wrong wrong").await.status(), 429);
    // The window passes.
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(c.login("anna", PASSWORD).await.status(), 303);
    assert!(
        app.audit_actions()
            .await
            .contains(&"login.throttled".to_owned())
    );
}

#[tokio::test]
async fn state_changes_without_a_valid_csrf_token_are_refused() {
    let app = spawn_app().await;
    app.add_user("anna", Role::Admin).await;
    let c = app.client();
    // No token at all.
    let res = c
        .post_form_raw("/login", &[("username", "anna"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 403);
    // A wrong token.
    let res = c
        .post_form_raw(
            "/login",
            &[
                ("username", "anna"),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(c.cookie("talaka_session").is_none());

    assert_eq!(c.login("anna", PASSWORD).await.status(), 303);
    // The pre-session token no longer works once signed in; the session's does.
    let res = c
        .post_form_raw("/admin/invites", &[("role", "observer")])
        .await;
    assert_eq!(res.status(), 403);
    let token = c.csrf().await;
    let res = c
        .http
        .post(c.url("/admin/invites"))
        .header("origin", "https://evil.example")
        .form(&[("role", "observer"), ("csrf", token.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 403, "foreign Origin");
    let res = c
        .http
        .post(c.url("/admin/invites"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("role", "observer"), ("csrf", token.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 403, "cross-site fetch");
    // The header form works (htmx sends it).
    let res = c
        .http
        .post(c.url("/admin/invites"))
        .header("x-csrf-token", token.as_str())
        .header("origin", app.base.as_str())
        .form(&[("role", "observer")])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.store.list_invites().await.expect("invites").len(),
        1,
        "only the valid request created one"
    );
}

#[tokio::test]
async fn a_role_without_the_permission_gets_403_and_it_is_logged() {
    let app = spawn_app().await;
    let c = app.signed_in("olga", Role::Observer).await;
    let res = c.get("/admin/users").await;
    assert_eq!(res.status(), 403);
    assert!(
        res.text().await.expect("body").contains("<html"),
        "an error page, not a bare status"
    );
    assert_eq!(
        c.post_form("/admin/invites", &[("role", "admin")])
            .await
            .status(),
        403
    );
    assert!(app.store.list_invites().await.expect("invites").is_empty());
    assert!(logs_text().contains("access refused"));
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_lifetime() {
    let app = spawn_app().await;
    let c = app.signed_in("anna", Role::Analyst).await;
    // Activity every 20 minutes keeps the session alive ...
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(c.get("/").await.status(), 200);
    }
    // ... 31 idle minutes end it.
    app.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(c.get("/").await.status(), 303);

    let c = app.client();
    assert_eq!(c.login("anna", PASSWORD).await.status(), 303);
    // Busy all day: the absolute lifetime (12 hours) ends it anyway.
    let mut minutes = 0;
    while c.get("/").await.status() == 200 && minutes < 24 * 60 {
        app.clock.advance(Duration::from_secs(25 * 60));
        minutes += 25;
    }
    assert!(
        (12 * 60..12 * 60 + 25).contains(&minutes),
        "ended after {minutes} minutes"
    );
    assert_eq!(c.get("/").await.status(), 303);
    assert!(
        app.store
            .list_audit(None, 100)
            .await
            .expect("audit")
            .iter()
            .any(|e| e.detail == "lifetime reached")
    );
}

#[tokio::test]
async fn users_see_and_end_their_own_sessions_but_not_others() {
    let app = spawn_app().await;
    let phone = app.signed_in("anna", Role::Lawyer).await;
    let laptop = app.client();
    laptop.login("anna", PASSWORD).await;
    let other = app.signed_in("boris", Role::Lawyer).await;
    let anna = app
        .store
        .user_by_username(&talaka_core::user::Username::parse("anna").expect("name"))
        .await
        .expect("db")
        .expect("anna");
    let sessions = app
        .store
        .sessions_for_user(anna.id)
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 2);
    let page = phone
        .get("/account/sessions")
        .await
        .text()
        .await
        .expect("body");
    for s in &sessions {
        assert!(
            page.contains(&format!("/account/sessions/{}/end", s.id.0))
                || page.contains(&s.id.0.to_string())
        );
    }
    // Boris cannot end Anna's session: it looks like a missing one.
    let target = sessions.iter().map(|s| s.id.0).max().expect("one");
    assert_eq!(
        other
            .post_form(&format!("/account/sessions/{target}/end"), &[])
            .await
            .status(),
        404
    );
    assert_eq!(laptop.get("/").await.status(), 200);
    // Anna can.
    assert_eq!(
        phone
            .post_form(&format!("/account/sessions/{target}/end"), &[])
            .await
            .status(),
        303
    );
    assert_eq!(
        laptop.get("/").await.status(),
        303,
        "the laptop is signed out"
    );
    assert_eq!(phone.get("/").await.status(), 200);
}

#[tokio::test]
async fn a_one_time_password_must_be_replaced_before_anything_else() {
    let app = spawn_app().await;
    app.add_user_with("newbie", Role::Coordinator, "one time password 1", true)
        .await;
    let c = app.client();
    let res = c.login("newbie", "one time password 1").await;
    assert_eq!(location(&res), "/account/password");
    let res = c.get("/").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/password");
    assert_eq!(c.get("/api/v1/me").await.status(), 403);
    let res = c
        .post_form(
            "/account/password",
            &[
                ("current", "one time password 1"),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = c
        .post_form(
            "/account/password",
            &[
                ("current", "one time password 1"),
                ("new", "my own good password"),
                ("confirm", "my own good password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(c.get("/").await.status(), 200);
    let fresh = app.client();
    assert_eq!(
        fresh.login("newbie", "one time password 1").await.status(),
        401
    );
    assert_eq!(
        fresh.login("newbie", "my own good password").await.status(),
        303
    );
    assert!(
        app.audit_actions()
            .await
            .contains(&"password.changed".to_owned())
    );
}

#[tokio::test]
async fn invites_onboard_staff_once() {
    invites_onboard_staff_once_on(spawn_app().await).await;
}

pub async fn invites_onboard_staff_once_on(app: TestApp) {
    let admin = app.signed_in("root", Role::Admin).await;
    let res = admin
        .post_form("/admin/invites", &[("role", "moderator")])
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("body");
    let start = html.find("/invite/").expect("the new link is shown");
    let token: String = html[start + 8..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43);
    let link = format!("/invite/{token}");

    let newcomer = app.client();
    assert_eq!(newcomer.get(&link).await.status(), 200);
    let res = newcomer
        .post_form(
            &link,
            &[
                ("username", "root"),
                ("password", "moderator password"),
                ("confirm", "moderator password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 409, "name taken; the invite stays usable");
    let res = newcomer
        .post_form(
            &link,
            &[
                ("username", "mila"),
                ("password", "moderator password"),
                ("confirm", "moderator password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        newcomer.login("mila", "moderator password").await.status(),
        303
    );
    let me: serde_json::Value = newcomer.get("/api/v1/me").await.json().await.expect("json");
    assert_eq!(me["role"], "moderator");
    // Single use.
    assert_eq!(app.client().get(&link).await.status(), 404);
    let actions = app.audit_actions().await;
    assert!(actions.contains(&"invite.created".to_owned()));
    assert!(actions.contains(&"invite.redeemed".to_owned()));
}

#[tokio::test]
async fn admins_change_roles_and_disable_accounts_with_an_audit_trail() {
    admins_change_roles_and_disable_accounts_with_an_audit_trail_on(spawn_app().await).await;
}

pub async fn admins_change_roles_and_disable_accounts_with_an_audit_trail_on(app: TestApp) {
    let admin = app.signed_in("root", Role::Admin).await;
    let victim = app.signed_in("vera", Role::Observer).await;
    let vera = app
        .store
        .user_by_username(&talaka_core::user::Username::parse("vera").expect("n"))
        .await
        .expect("db")
        .expect("vera");
    let root = app
        .store
        .user_by_username(&talaka_core::user::Username::parse("root").expect("n"))
        .await
        .expect("db")
        .expect("root");

    assert_eq!(
        admin
            .post_form(
                &format!("/admin/users/{}/role", vera.id),
                &[("role", "analyst")]
            )
            .await
            .status(),
        303
    );
    let me: serde_json::Value = victim.get("/api/v1/me").await.json().await.expect("json");
    assert_eq!(me["role"], "analyst");
    assert_eq!(
        admin
            .post_form(&format!("/admin/users/{}/disable", vera.id), &[])
            .await
            .status(),
        303
    );
    assert_eq!(
        victim.get("/api/v1/me").await.status(),
        401,
        "disabling ends the session at once"
    );
    assert_eq!(app.client().login("vera", PASSWORD).await.status(), 401);
    // The last admin cannot demote or disable themselves.
    assert_eq!(
        admin
            .post_form(
                &format!("/admin/users/{}/role", root.id),
                &[("role", "observer")]
            )
            .await
            .status(),
        409
    );
    assert_eq!(
        admin
            .post_form(&format!("/admin/users/{}/disable", root.id), &[])
            .await
            .status(),
        409
    );

    let audit = admin.get("/admin/audit").await;
    assert_eq!(audit.status(), 200);
    let html = audit.text().await.expect("body");
    assert!(html.contains("user.role_changed"), "{html}");
    assert!(html.contains("user.disabled"));
    assert!(html.contains("observer → analyst"));
}

#[tokio::test]
async fn housekeeping_removes_expired_sessions_and_old_failures() {
    let app = spawn_app().await;
    let c = app.signed_in("anna", Role::Analyst).await;
    app.client().login("anna", "wrong wrong wrong").await;
    app.clock.advance(Duration::from_secs(13 * 3600));
    let (sessions, failures) = talaka_server::jobs::housekeeping(&app.state, app.clock_now())
        .await
        .expect("housekeeping");
    assert_eq!(
        (sessions, failures),
        (1, 2),
        "one session; the failure was counted per name and per address"
    );
    assert_eq!(c.get("/").await.status(), 303);
}
