//! The authorization matrix: every route in the route table, with every role and anonymously.
//! A route added later joins this test by being added to the table (and cannot be reached
//! without being in it).

use talaka_core::user::Role;
use talaka_server::routes::{self, Access};

use crate::support::*;

#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    Staff(Role),
}

fn allowed(access: Access, who: Who) -> bool {
    match (access, who) {
        (Access::Public, _) => true,
        (_, Who::Anonymous) => false,
        (Access::Account | Access::SignedIn, Who::Staff(_)) => true,
        (Access::Can(p), Who::Staff(r)) => r.can(p),
    }
}

#[tokio::test]
async fn every_route_with_every_role() {
    let app = spawn_app().await;
    // Records for the path parameters: someone else's account, an invite, a session.
    let victim = app.add_user("victim", Role::Observer).await;
    let mut checked = 0;
    let mut whos = vec![Who::Anonymous];
    whos.extend(Role::ALL.map(Who::Staff));
    for who in whos {
        for spec in routes::all() {
            // A fresh client and account per request: some routes sign out or disable.
            let client = match who {
                Who::Anonymous => app.client(),
                Who::Staff(role) => app.signed_in(&format!("u{checked}"), role).await,
            };
            let path = spec
                .path
                .replace("{id}", &victim.0.to_string())
                .replace("{token}", "no-such-invite")
                .replace("{name}", "talaka.css");
            let res = match spec.method {
                "GET" => client.get(&path).await,
                "POST" => client.post_form(&path, &[("role", "observer")]).await,
                other => panic!("the matrix does not know method {other}"),
            };
            let status = res.status().as_u16();
            let to_login = spec.method == "GET" && status == 303 && location(&res) == "/login";
            let refused = status == 401 || status == 403 || to_login;
            // Bearer-token routes refuse every session, and secret-guarded routes (the Telegram
            // webhook) everyone without their secret: without it, nobody gets in.
            let ok = allowed(spec.access, who)
                && !talaka_server::api::requires_token(spec)
                && !talaka_server::telegram::secret_guarded(spec)
                && !talaka_server::safety_bot::secret_guarded(spec);
            assert_eq!(
                !refused,
                ok,
                "{} {} as {who:?}: got {status} {}, expected {}",
                spec.method,
                spec.path,
                location(&res),
                if ok { "access" } else { "refusal" }
            );
            assert_ne!(
                status, 405,
                "{} {} is in the table but not routed",
                spec.method, spec.path
            );
            assert!(
                status < 500,
                "{} {} as {who:?}: {status}",
                spec.method,
                spec.path
            );
            if let (Who::Anonymous, false) = (who, ok) {
                let expected = if talaka_server::telegram::secret_guarded(spec)
                    || talaka_server::safety_bot::secret_guarded(spec)
                {
                    // Not a login matter: the webhook refuses whoever lacks its secret.
                    403
                } else if spec.method == "GET" && !spec.path.starts_with("/api/") {
                    303
                } else {
                    401
                };
                assert_eq!(
                    status, expected,
                    "{} {} anonymously",
                    spec.method, spec.path
                );
            }
            checked += 1;
            // Put the victim back the way it was.
            app.store
                .set_disabled(
                    victim,
                    false,
                    &talaka_core::audit::NewAudit::new(
                        app.clock_now(),
                        talaka_core::audit::Actor::System,
                        talaka_core::audit::AuditAction::UserEnabled,
                    ),
                )
                .await
                .expect("re-enable");
        }
    }
    assert_eq!(checked, routes::all().count() * 7);
}

#[tokio::test]
async fn no_route_changes_data_on_get() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", Role::Admin).await;
    admin
        .post_form("/admin/invites", &[("role", "observer")])
        .await;
    let before = app.audit_actions().await.len();
    let users_before = app.store.list_users().await.expect("users").len();
    let invites_before = app.store.list_invites().await.expect("invites");
    for spec in routes::all().filter(|r| r.method == "GET") {
        let path = spec
            .path
            .replace("{id}", "1")
            .replace("{token}", "x")
            .replace("{name}", "talaka.css");
        admin.get(&path).await;
        app.client().get(&path).await;
        // HEAD is answered like GET and changes nothing either.
        admin
            .http
            .head(admin.url(&path))
            .send()
            .await
            .expect("HEAD");
    }
    assert_eq!(
        app.audit_actions().await.len(),
        before,
        "a GET wrote to the audit log"
    );
    assert_eq!(
        app.store.list_users().await.expect("users").len(),
        users_before
    );
    assert_eq!(
        app.store.list_invites().await.expect("invites"),
        invites_before
    );
    assert!(
        routes::all().all(|r| matches!(r.method, "GET" | "POST")),
        "the table only uses GET and POST"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let app = spawn_app().await;
    let c = app.client();
    assert_eq!(c.get("/no/such/page").await.status(), 404);
    let res = c.http.delete(c.url("/login")).send().await.expect("DELETE");
    assert!(
        res.status() == 403 || res.status() == 405,
        "{}",
        res.status()
    );
}
