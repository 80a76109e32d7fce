//! Log hygiene: run the flows that handle secrets with TRACE logging captured, then look for
//! every secret in the captured log.

use talaka_core::user::Role;

use crate::support::*;

#[tokio::test]
async fn logs_hold_no_password_token_or_name_and_cannot_be_forged() {
    let app = spawn_app().await;
    let marker_password = "pw-marker-7f3a9c long enough";
    app.add_user_with("zmarker", Role::Admin, marker_password, false)
        .await;
    let c = app.client();
    c.login("zmarker", "wrong-pw-marker-1b2c3d").await;
    // A name with a newline tries to forge a log line.
    c.login("evil\n{\"level\":\"INFO\",\"message\":\"forged\"}", "x")
        .await;
    assert_eq!(c.login("zmarker", marker_password).await.status(), 303);
    let session = c.cookie("talaka_session").expect("session");
    let res = c.post_form("/admin/invites", &[("role", "lawyer")]).await;
    let html = res.text().await.expect("body");
    let start = html.find("/invite/").expect("link");
    let invite: String = html[start + 8..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let n = app.client();
    n.get(&format!("/invite/{invite}")).await;
    n.post_form(
        &format!("/invite/{invite}"),
        &[
            ("username", "newmarker"),
            ("password", "invite-pw-marker-99"),
            ("confirm", "invite-pw-marker-99"),
        ],
    )
    .await;
    c.post_form(
        "/account/password",
        &[
            ("current", marker_password),
            ("new", "new-pw-marker-5e6f7a"),
            ("confirm", "new-pw-marker-5e6f7a"),
        ],
    )
    .await;
    let csrf = c.csrf().await;

    let logs = logs_text();
    assert!(logs.contains("login failed"), "the capture works");
    assert!(logs.contains("login succeeded"));
    for secret in [
        "pw-marker-7f3a9c",
        "wrong-pw-marker",
        "invite-pw-marker",
        "new-pw-marker",
        session.as_str(),
        invite.as_str(),
        csrf.as_str(),
        "zmarker",
        "newmarker",
    ] {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!("the log contains {secret:?}: {line}");
        }
    }
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert_ne!(v["message"], "forged", "a forged line: {line}");
    }
}
