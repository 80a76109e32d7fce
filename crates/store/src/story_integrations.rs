//! The test story for [`IntegrationStore`] every backend must pass (feature `testing`).

use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::token_fingerprint;

use crate::integrations::{IntegrationId, IntegrationStore, NewIntegration, TokenScope};
use crate::{Store, StoreError};

const T0: i64 = 1_700_000_000_000;

/// A store with both traits, as the story needs.
pub trait IntegrationStores: Store + IntegrationStore {}
impl<T: Store + IntegrationStore + ?Sized> IntegrationStores for T {}

fn new(name: &str, token: &str, scope: TokenScope, at: i64) -> NewIntegration {
    NewIntegration {
        name: name.to_owned(),
        token_fingerprint: token_fingerprint(token),
        scope,
        created_by: None,
        created_at: Timestamp(at),
    }
}

/// Tokens are found by fingerprint only, scopes round-trip, revocation is final, and both
/// changes are audited with the integration as target.
pub async fn integrations(store: &dyn IntegrationStores) {
    store.migrate().await.expect("migrate");
    let audit = |at: i64, action| NewAudit::new(Timestamp(at), Actor::Cli, action);

    let bot = store
        .create_integration(
            &new(
                "Partner bot",
                "token-one",
                TokenScope::Elections(vec!["z-2025".into(), "a-2020".into(), "a-2020".into()]),
                T0,
            ),
            &audit(T0, AuditAction::ApiTokenCreated),
        )
        .await
        .expect("create scoped");
    assert_eq!(bot.name, "Partner bot");
    assert_eq!(
        bot.scope,
        TokenScope::Elections(vec!["a-2020".into(), "z-2025".into()]),
        "codes come back sorted, without duplicates"
    );
    assert!(bot.may_report_to("a-2020") && bot.may_report_to("z-2025"));
    assert!(!bot.may_report_to("other"));
    assert_eq!(bot.revoked_at, None);

    let newest = store.list_audit(None, 1).await.expect("audit");
    assert_eq!(newest[0].action, "api_token.created");
    assert_eq!(
        newest[0].target.as_deref(),
        Some(format!("integration:{}", bot.id.0).as_str())
    );

    let all = store
        .create_integration(
            &new("Call centre", "token-two", TokenScope::All, T0 + 1),
            &audit(T0 + 1, AuditAction::ApiTokenCreated),
        )
        .await
        .expect("create all");
    assert!(all.may_report_to("anything"));

    // The same token twice is refused, and nothing is written.
    let before = store.list_audit(None, 100).await.expect("audit").len();
    let dup = store
        .create_integration(
            &new("Copy", "token-one", TokenScope::All, T0 + 2),
            &audit(T0 + 2, AuditAction::ApiTokenCreated),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let empty = store
        .create_integration(
            &new(
                "Nothing",
                "token-three",
                TokenScope::Elections(vec![]),
                T0 + 2,
            ),
            &audit(T0 + 2, AuditAction::ApiTokenCreated),
        )
        .await;
    assert!(
        matches!(empty, Err(StoreError::Conflict("scope"))),
        "{empty:?}"
    );
    assert_eq!(
        store.list_audit(None, 100).await.expect("audit").len(),
        before
    );

    // Found by the token's fingerprint, never by the token itself.
    let found = store
        .integration_by_fingerprint(&token_fingerprint("token-one"))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found, bot);
    assert_eq!(
        store
            .integration_by_fingerprint("token-one")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store.integration(bot.id).await.expect("by id"),
        Some(bot.clone())
    );
    assert_eq!(
        store
            .integration(IntegrationId(999_999))
            .await
            .expect("by id"),
        None
    );

    let listed = store.integrations().await.expect("list");
    assert_eq!(
        listed.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![all.id, bot.id],
        "newest first"
    );

    // Revocation: audited, final, and the integration can no longer report.
    store
        .revoke_integration(
            bot.id,
            Timestamp(T0 + 10),
            &audit(T0 + 10, AuditAction::ApiTokenRevoked),
        )
        .await
        .expect("revoke");
    let revoked = store.integration(bot.id).await.expect("get").expect("kept");
    assert_eq!(revoked.revoked_at, Some(Timestamp(T0 + 10)));
    assert!(!revoked.may_report_to("a-2020"));
    let newest = store.list_audit(None, 1).await.expect("audit");
    assert_eq!(newest[0].action, "api_token.revoked");
    assert_eq!(
        newest[0].target.as_deref(),
        Some(format!("integration:{}", bot.id.0).as_str())
    );
    let again = store
        .revoke_integration(
            bot.id,
            Timestamp(T0 + 11),
            &audit(T0 + 11, AuditAction::ApiTokenRevoked),
        )
        .await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    let missing = store
        .revoke_integration(
            IntegrationId(999_999),
            Timestamp(T0 + 11),
            &audit(T0 + 11, AuditAction::ApiTokenRevoked),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    assert_eq!(
        store.list_audit(None, 1).await.expect("audit")[0].at,
        Timestamp(T0 + 10),
        "failed revocations write no audit entry"
    );
}
