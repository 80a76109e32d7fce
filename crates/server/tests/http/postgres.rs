//! The same HTTP stories on PostgreSQL (when `TEST_DATABASE_URL` is set; required under CI).

use std::sync::Arc;

use crate::auth::*;
use crate::support::spawn_app_on;

macro_rules! on_postgres {
    ($($name:ident => $story:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
                return;
            };
            $story(spawn_app_on(Arc::new(store), |_| {}).await).await;
            db.cleanup().await;
        }
    )*};
}

on_postgres! {
    login_and_logout_on_postgres => login_and_logout_on,
    throttling_on_postgres => repeated_failures_are_throttled_even_with_the_right_password_on,
    invites_on_postgres => invites_onboard_staff_once_on,
    admin_changes_on_postgres => admins_change_roles_and_disable_accounts_with_an_audit_trail_on,
}
