//! The same HTTP stories on PostgreSQL (when `TEST_DATABASE_URL` is set; required under CI).
//!
//! `name => story` runs `story(app)` with the app on a fresh PostgreSQL schema;
//! `name => story [setup]` runs `story(setup(store).await)`, for stories that need their app
//! built another way (other settings, a blob folder): `setup` takes the migrated store.

use std::sync::Arc;

use talaka_store::Stores;

use crate::api::*;
use crate::auth::*;
use crate::cases::*;
use crate::elections::*;
use crate::moderation::*;
use crate::participate::*;
use crate::safety_bot::*;
use crate::support::spawn_app_on;
use crate::telegram::*;

macro_rules! on_postgres {
    (@app $store:ident) => {
        spawn_app_on($store, |_| {}).await
    };
    (@app $store:ident $setup:path) => {
        $setup($store).await
    };
    ($($name:ident => $story:ident $([$setup:path])?),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
                return;
            };
            let store: Arc<dyn Stores> = Arc::new(store);
            $story(on_postgres!(@app store $($setup)?)).await;
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

// ---- elections (issue 4): pages, uploads, the API, the web forms, the Telegram webhook ----

on_postgres! {
    glance_on_postgres => a_journalist_sees_the_election_at_a_glance_on,
    station_list_on_postgres => the_station_list_filters_by_verdict_and_more_on,
    station_page_on_postgres => the_station_page_quotes_every_verdict_on,
    open_data_on_postgres => open_data_names_nobody_on,
    forensics_and_map_on_postgres => forensics_report_and_map_are_served_from_here_on,
    coordinator_upload_on_postgres => a_coordinator_uploads_and_a_bad_row_stores_nothing_on,
    upload_refused_on_postgres => analysts_and_strangers_cannot_upload_on,
    upload_limit_on_postgres =>
        an_upload_above_the_limit_is_refused_and_one_below_is_fine_on [small_imports_app],
    exit_poll_upload_on_postgres => an_exit_poll_uploaded_for_a_stored_election_gives_verdicts_on,
    golos_2020_on_postgres => golos_2020_uploaded_shows_one_station_in_three_on,

    api_tokens_on_postgres => tokens_are_required_scoped_and_revocable_on,
    api_bad_report_on_postgres => a_bad_report_in_a_batch_costs_only_itself_on,
    api_concurrent_batches_on_postgres => concurrent_batches_are_acknowledged_and_counted_on,

    report_with_photo_on_postgres =>
        a_ballot_report_with_a_photo_gets_a_receipt_and_its_photo_loses_the_exif_on [setup_on],
    duplicate_photo_and_replacement_on_postgres =>
        the_same_photo_from_another_participant_is_flagged_and_a_second_report_replaces_the_first_on
        [setup_on],
    forms_without_csrf_on_postgres =>
        forms_without_a_csrf_token_are_refused_and_store_nothing_on [setup_on],
    bad_station_on_postgres => a_bad_station_is_named_and_nothing_is_stored_on [setup_on],
    photo_limit_on_postgres =>
        a_photo_above_the_limit_is_refused_and_the_form_keeps_what_was_typed_on
        [small_photos_setup_on],
    exit_poll_form_on_postgres =>
        exit_poll_tallies_are_stored_and_never_overwritten_from_the_web_on [setup_on],
    observer_copy_on_postgres => an_observer_copy_is_stored_with_its_photo_on [setup_on],

    webhook_secret_on_postgres => the_webhook_refuses_a_missing_or_wrong_secret_on,
    webhook_bot_on_postgres =>
        the_right_secret_reaches_the_bot_which_answers_through_the_bot_api_on,
    polling_mode_on_postgres => polling_mode_starts_the_bot_on,
    webhook_mode_on_postgres => webhook_mode_registers_and_bad_settings_are_refused_on,
}

/// Two servers on one database (two `talaka serve` processes behind a load balancer, one
/// installation key) take batches at once that reach the same counters in opposite orders:
/// every report is acknowledged and the crowd counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_count_concurrent_batches_exactly() {
    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    let key = talaka_core::crypto::SecretKey::generate().expect("key");
    let a = spawn_app_on(Arc::new(store), {
        let key = key.clone();
        move |s| s.key = key
    })
    .await;
    let b = spawn_app_on(Arc::new(db.store().await), move |s| s.key = key).await;
    concurrent_batches_to(&[&a, &b]).await;
    drop((a, b));
    db.cleanup().await;
}

// ---- the review of ballot photos (issue 4) ----

on_postgres! {
    moderation_on_postgres => a_moderator_confirms_one_photo_and_rejects_another_on,
    moderation_access_on_postgres => only_reviewers_see_the_queue_the_photos_and_decide_on,
    reviewed_photos_only_on_postgres =>
        when_asked_only_confirmed_photos_count_as_verified_on [reviewed_photos_only_app],
}

// ---- the Safety module's case dashboard ----

on_postgres! {
    cases_access_on_postgres =>
        only_lawyers_and_coordinators_work_cases_and_only_lawyers_open_details_on,
    cases_details_audited_on_postgres =>
        revealing_details_is_audited_and_nothing_else_shows_them_on,
    cases_csrf_on_postgres => forms_without_csrf_are_refused_and_change_nothing_on,
    cases_status_on_postgres => status_changes_are_checked_and_audited_on,
    cases_notes_on_postgres => notes_are_added_and_read_with_an_audit_trail_on,
    cases_merge_on_postgres => two_reports_of_one_person_are_merged_on,
    cases_public_list_on_postgres => the_public_list_names_only_consenting_listed_prisoners_on,
    cases_public_off_on_postgres => the_public_list_is_off_unless_configured_on,
    cases_retention_on_postgres => closed_cases_lose_their_details_after_the_retention_period_on,
    safety_webhook_on_postgres => the_safety_webhook_answers_only_its_own_secret_on,
    safety_start_on_postgres => start_runs_the_bot_the_worker_and_the_ticker_on,
}
