//! The web shell's views: translations, templates, the no-foreign-host rule and static files.
//! Uses only the public `i18n`, `views` and `static_files` modules.

use std::path::{Path, PathBuf};

use askama::Template;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use talaka_core::user::Role;
use talaka_server::i18n::{self, Lang};
use talaka_server::static_files;
use talaka_server::views::*;
use tower::ServiceExt;

const CSRF: &str = "csrf-TOKEN_0123456789abcdef";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    String::from_utf8(std::fs::read(path).expect("read file"))
        .unwrap_or_else(|_| panic!("{} is not UTF-8", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Translations

/// Keys the handlers use (the contract with the rest of the crate) and keys views compute.
const REQUIRED_KEYS: &[&str] = &[
    "login.failed",
    "login.throttled",
    "password.too_short",
    "password.too_long",
    "password.mismatch",
    "password.wrong_current",
    "password.changed",
    "username.invalid",
    "username.taken",
    "invite.invalid",
    "invite.created",
    "user.last_admin",
    "error.400",
    "error.403",
    "error.404",
    "error.405",
    "error.413",
    "error.429",
    "error.500",
    "error.503",
    "error.csrf",
    "role_about.admin",
    "role_about.coordinator",
    "role_about.analyst",
    "role_about.moderator",
    "role_about.lawyer",
    "role_about.observer",
];

/// Every `t("…")` key in the templates.
fn template_keys() -> Vec<(String, String)> {
    let mut keys = Vec::new();
    for path in files_under(&crate_dir().join("templates")) {
        let text = read(&path);
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".t(\"") {
            rest = &rest[i + 4..];
            let end = rest.find('"').expect("closing quote");
            keys.push((path.display().to_string(), rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    keys
}

fn all_required_keys() -> Vec<String> {
    let mut keys: Vec<String> = template_keys().into_iter().map(|(_, k)| k).collect();
    keys.extend(REQUIRED_KEYS.iter().map(|k| k.to_string()));
    keys.extend(Role::ALL.iter().map(|r| role_key(*r).to_owned()));
    keys.extend(INVITE_STATES.iter().map(|k| k.to_string()));
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn translation_files_parse() {
    for lang in Lang::ALL {
        let mut total = 0;
        for source in lang.sources() {
            let table = i18n::parse_table(source).expect("translation file parses");
            total += table.len();
        }
        let main = crate_dir()
            .join("i18n")
            .join(format!("{}.toml", lang.code()));
        let shell = i18n::parse_table(&read(&main)).expect("translation file parses");
        assert!(
            shell.len() > 50,
            "{}: only {} keys",
            lang.code(),
            shell.len()
        );
        // No module redefines another's key: the merged table has every file's keys.
        assert_eq!(
            total,
            lang.keys().len(),
            "{}: a key is defined twice",
            lang.code()
        );
    }
}

#[test]
fn every_used_key_exists_in_every_language() {
    let keys = all_required_keys();
    assert!(
        template_keys().len() > 50,
        "the template scan found too few keys"
    );
    let mut missing = Vec::new();
    for key in &keys {
        for lang in Lang::ALL {
            match lang.own(key) {
                Some(text) if !text.trim().is_empty() => {}
                Some(_) => missing.push(format!("{}: {key} is empty", lang.code())),
                None => missing.push(format!("{}: {key} is missing", lang.code())),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "translation gaps:\n{}",
        missing.join("\n")
    );
}

#[test]
fn languages_have_the_same_keys_and_no_empty_text() {
    let en = Lang::En.keys();
    for lang in [Lang::Be, Lang::Ru] {
        let other = lang.keys();
        let extra: Vec<_> = other.iter().filter(|k| !en.contains(k)).collect();
        assert!(
            extra.is_empty(),
            "{} has keys en lacks: {extra:?}",
            lang.code()
        );
        let missing: Vec<_> = en.iter().filter(|k| !other.contains(k)).collect();
        assert!(missing.is_empty(), "{} lacks: {missing:?}", lang.code());
    }
    for lang in Lang::ALL {
        for key in lang.keys() {
            let text = lang.own(key).expect("listed key");
            assert!(!text.trim().is_empty(), "{}: {key} is empty", lang.code());
            if lang != Lang::En && key != "base.footer" && !key.starts_with("role.") {
                // Russian and Belarusian texts are in Cyrillic, not English left untranslated.
                assert!(
                    text.chars().any(|c| ('\u{400}'..='\u{4ff}').contains(&c)),
                    "{}: {key} looks untranslated: {text}",
                    lang.code()
                );
            }
        }
    }
    // A few spot checks of the handlers' messages.
    assert_eq!(Lang::En.t("login.failed"), "Wrong name or password.");
    assert_eq!(
        Lang::En.t("error.csrf"),
        "This form has expired or came from another site. Go back, reload the page and try again."
    );
    assert_eq!(Lang::Be.t("nav.sign_out"), "Выйсці");
    assert_eq!(Lang::Ru.t("nav.sign_out"), "Выйти");
}

#[test]
fn unknown_keys_fall_back_to_the_key() {
    assert_eq!(Lang::Ru.t("no.such.key"), "no.such.key");
    assert_eq!(Lang::Be.own("no.such.key"), None);
    // The same leaked string is reused.
    assert!(std::ptr::eq(
        Lang::En.t("no.such.key"),
        Lang::Be.t("no.such.key")
    ));
}

#[test]
fn language_codes() {
    for lang in Lang::ALL {
        assert_eq!(Lang::parse(lang.code()), Some(lang));
    }
    assert_eq!(Lang::parse("BE-by"), Some(Lang::Be));
    assert_eq!(Lang::parse("ru_RU"), Some(Lang::Ru));
    assert_eq!(Lang::parse("uk"), None);
    assert_eq!(Lang::parse(""), None);
    assert_eq!(Lang::parse("bel"), None);
    assert_eq!(Lang::Be.native_name(), "Беларуская");
}

#[test]
fn accept_language_negotiation() {
    let cases: &[(Option<&str>, Lang)] = &[
        (None, Lang::En),
        (Some(""), Lang::En),
        (Some("be"), Lang::Be),
        (Some("be-BY"), Lang::Be),
        (Some("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), Lang::Ru),
        (Some("en-US,en;q=0.9,ru-RU;q=0.8"), Lang::En),
        (Some("de-DE,de;q=0.9,ru;q=0.5,en;q=0.4"), Lang::Ru),
        (Some("en;q=0.5, be;q=0.8"), Lang::Be),
        (Some("ru;q=0.8, be-BY;q=0.8"), Lang::Ru), // tie: the earlier one
        (Some("ru;q=0, be;q=0.1"), Lang::Be),
        (Some("ru;q=0"), Lang::En),
        (Some("*"), Lang::En),
        (Some("de, *;q=0.5"), Lang::En),
        (Some("en;q=0, *;q=0.3"), Lang::Be),
        (Some("be;q=0.2, *;q=0.9"), Lang::En), // the wildcard ranks the unnamed above be
        (Some("fr, de, uk"), Lang::En),
        (Some("garbage;;;==,,"), Lang::En),
        (Some("ru;q=abc, be"), Lang::Be), // malformed q: entry ignored
        (Some("ru;q=1.5"), Lang::En),
        (Some("ru ; q = 0.7 , en ; q = 0.6"), Lang::Ru),
        (Some("be-tarask"), Lang::Be),
        (Some("\u{0}\u{ffff}ru"), Lang::En),
    ];
    for (header, want) in cases {
        assert_eq!(
            Lang::negotiate(*header),
            *want,
            "Accept-Language: {header:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

fn chrome(lang: Lang, admin: bool) -> Chrome {
    Chrome {
        lang,
        csrf: CSRF.to_owned(),
        user: Some(ChromeUser {
            username: "anna.k".to_owned(),
            role: if admin { Role::Admin } else { Role::Lawyer },
            can_manage_users: admin,
            can_view_audit: admin,
        }),
        path: "/admin/users?x=1&y=<2>".to_owned(),
    }
}

fn signed_out(lang: Lang) -> Chrome {
    Chrome {
        user: None,
        path: "/login".to_owned(),
        ..chrome(lang, false)
    }
}

fn users() -> Vec<UserRow> {
    vec![
        UserRow {
            id: 1,
            username: "anna.k".into(),
            role: Role::Admin,
            disabled: false,
            must_change_password: false,
            created: "2025-01-02 10:00".into(),
            is_self: true,
        },
        UserRow {
            id: 2,
            username: "<script>alert(1)</script>".into(),
            role: Role::Moderator,
            disabled: false,
            must_change_password: true,
            created: "2025-01-03 11:00".into(),
            is_self: false,
        },
        UserRow {
            id: 3,
            username: "old.observer".into(),
            role: Role::Observer,
            disabled: true,
            must_change_password: false,
            created: "2025-01-04 12:00".into(),
            is_self: false,
        },
    ]
}

fn invites() -> Vec<InviteRow> {
    INVITE_STATES
        .iter()
        .enumerate()
        .map(|(i, state)| InviteRow {
            id: 10 + i as i64,
            role: Role::ALL[i],
            created: "2025-02-01 09:00".into(),
            expires: "2025-02-08 09:00".into(),
            state,
        })
        .collect()
}

/// Every page, rendered in `lang` with sample data: (name, html).
fn render_all(lang: Lang) -> Vec<(&'static str, String)> {
    let r = |t: &dyn askama::DynTemplate| t.dyn_render().expect("template renders");
    vec![
        (
            "login",
            r(&LoginPage {
                chrome: signed_out(lang),
                username: String::new(),
                error: None,
            }),
        ),
        (
            "login-error",
            r(&LoginPage {
                chrome: signed_out(lang),
                username: "anna".into(),
                error: Some("login.failed"),
            }),
        ),
        (
            "home-admin",
            r(&HomePage {
                chrome: chrome(lang, true),
            }),
        ),
        (
            "home-lawyer",
            r(&HomePage {
                chrome: chrome(lang, false),
            }),
        ),
        (
            "home-signed-out",
            r(&HomePage {
                chrome: signed_out(lang),
            }),
        ),
        (
            "password",
            r(&PasswordPage {
                chrome: chrome(lang, false),
                forced: true,
                error: Some("password.mismatch"),
                notice: Some("password.changed"),
            }),
        ),
        (
            "sessions",
            r(&SessionsPage {
                chrome: chrome(lang, false),
                sessions: vec![
                    SessionRow {
                        id: 7,
                        created: "2025-01-01 08:00".into(),
                        last_seen: "2025-01-01 09:00".into(),
                        current: true,
                    },
                    SessionRow {
                        id: 8,
                        created: "2024-12-01 08:00".into(),
                        last_seen: "2024-12-02 09:00".into(),
                        current: false,
                    },
                ],
            }),
        ),
        (
            "users",
            r(&UsersPage {
                chrome: chrome(lang, true),
                users: users(),
                error: Some("user.last_admin"),
            }),
        ),
        (
            "invites",
            r(&InvitesPage {
                chrome: chrome(lang, true),
                invites: invites(),
                new_link: Some("https://talaka.example.org/invite/abc_DEF-123".into()),
                error: None,
            }),
        ),
        (
            "invites-empty",
            r(&InvitesPage {
                chrome: chrome(lang, true),
                invites: vec![],
                new_link: None,
                error: None,
            }),
        ),
        (
            "invite",
            r(&InvitePage {
                chrome: signed_out(lang),
                token: "abc_DEF-123".into(),
                role: Role::Analyst,
                username: "new.one".into(),
                error: Some("username.taken"),
            }),
        ),
        (
            "audit",
            r(&AuditPage {
                chrome: chrome(lang, true),
                entries: vec![AuditRow {
                    id: 99,
                    at: "2025-03-01 12:00".into(),
                    actor: "user 1".into(),
                    action: "user.role_changed".into(),
                    target: "user 2".into(),
                    detail: "<img src=x onerror=alert(1)>".into(),
                }],
                next_before: Some(99),
            }),
        ),
        (
            "audit-empty",
            r(&AuditPage {
                chrome: chrome(lang, true),
                entries: vec![],
                next_before: None,
            }),
        ),
        (
            "error",
            r(&ErrorPage {
                chrome: signed_out(lang),
                status: 403,
                message_key: "error.csrf",
            }),
        ),
    ]
}

/// Undoes HTML escaping of an attribute value (what a browser does before htmx reads it).
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The value of attribute `name` in every tag that starts with `tag` (e.g. `<input`).
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(tag) {
        rest = &rest[i..];
        let end = rest.find('>').expect("tag ends");
        out.push(&rest[..=end]);
        rest = &rest[end..];
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!(" {name}=\"");
    let i = tag.find(&pat)? + pat.len();
    let end = tag[i..].find('"')?;
    Some(&tag[i..i + end])
}

#[test]
fn every_page_renders_in_every_language_with_csrf_in_every_form() {
    for lang in Lang::ALL {
        for (name, html) in render_all(lang) {
            let ctx = format!("{name} in {}", lang.code());
            assert!(html.starts_with("<!doctype html>"), "{ctx}");
            assert!(
                html.contains(&format!("<html lang=\"{}\">", lang.code())),
                "{ctx}"
            );
            assert!(html.contains("<main id=\"main\""), "{ctx}");
            assert!(
                html.contains(r#"<link rel="stylesheet" href="/static/talaka.css">"#),
                "{ctx}"
            );
            assert!(
                html.contains(r#"<script src="/static/htmx.min.js" defer></script>"#),
                "{ctx}"
            );
            assert!(
                html.contains(
                    r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
                ),
                "{ctx}"
            );

            // Every form posts and carries the CSRF token.
            let forms = tags(&html, "<form");
            assert!(
                !forms.is_empty(),
                "{ctx}: no forms (the language switch at least)"
            );
            for form in &forms {
                assert_eq!(attr(form, "method"), Some("post"), "{ctx}: {form}");
                assert!(
                    attr(form, "action").is_some_and(|a| a.starts_with('/')),
                    "{ctx}: {form}"
                );
            }
            let hidden = format!(r#"<input type="hidden" name="csrf" value="{CSRF}">"#);
            assert_eq!(
                count(&html, "<form"),
                count(&html, &hidden),
                "{ctx}: a form lacks csrf"
            );
            assert_eq!(count(&html, "<form"), count(&html, "</form>"), "{ctx}");

            // The htmx requests carry it too, as valid JSON after HTML unescaping.
            let body = tags(&html, "<body")[0];
            let hx = unescape(attr(body, "hx-headers").expect("hx-headers"));
            let v: serde_json::Value = serde_json::from_str(&hx).expect("hx-headers is JSON");
            assert_eq!(v["X-CSRF-Token"], CSRF, "{ctx}");

            // The language switch: three buttons and the way back.
            assert_eq!(count(&html, r#"action="/lang""#), 1, "{ctx}");
            for l in Lang::ALL {
                assert!(
                    html.contains(&format!(r#"name="lang" value="{}""#, l.code())),
                    "{ctx}: no button for {}",
                    l.code()
                );
            }

            // Every visible field has a label.
            for field in tags(&html, "<input")
                .into_iter()
                .chain(tags(&html, "<select"))
            {
                if attr(field, "type") == Some("hidden") {
                    continue;
                }
                let id =
                    attr(field, "id").unwrap_or_else(|| panic!("{ctx}: field without id: {field}"));
                assert!(
                    html.contains(&format!("<label for=\"{id}\"")),
                    "{ctx}: no label for {id}"
                );
            }

            // Nothing CSP would block, nothing untranslated.
            assert!(!html.contains("style="), "{ctx}: inline style");
            assert!(!html.contains("<style"), "{ctx}: style element");
            assert_eq!(
                count(&html, "<script"),
                1,
                "{ctx}: only the htmx script tag"
            );
            assert!(
                !html.contains(" onclick=") && !html.contains(" onsubmit="),
                "{ctx}"
            );
            for (_, key) in template_keys() {
                assert!(
                    !html.contains(&format!(">{key}<")),
                    "{ctx}: untranslated {key}"
                );
            }
        }
    }
}

#[test]
fn the_signed_in_frame_shows_only_what_the_role_may_use() {
    let admin = HomePage {
        chrome: chrome(Lang::En, true),
    }
    .render()
    .expect("renders");
    let lawyer = HomePage {
        chrome: chrome(Lang::Ru, false),
    }
    .render()
    .expect("renders");
    let out = LoginPage {
        chrome: signed_out(Lang::Be),
        username: String::new(),
        error: None,
    }
    .render()
    .expect("renders");
    for href in ["/admin/users", "/admin/invites", "/admin/audit"] {
        assert!(admin.contains(&format!("href=\"{href}\"")), "{href}");
        assert!(!lawyer.contains(&format!("href=\"{href}\"")), "{href}");
    }
    for page in [&admin, &lawyer] {
        assert!(page.contains(r#"action="/logout""#));
        assert!(page.contains(r#"href="/account/sessions""#));
        assert!(page.contains(r#"href="/account/password""#));
    }
    assert!(lawyer.contains("Юрист"));
    assert!(admin.contains("Welcome, anna.k"));
    assert!(!out.contains(r#"action="/logout""#));
    assert!(out.contains(r#"action="/login""#));
    assert!(out.contains(r#"name="username""#) && out.contains(r#"autocomplete="username""#));
    assert!(
        out.contains(r#"name="password""#) && out.contains(r#"autocomplete="current-password""#)
    );
    assert!(out.contains("Уваход"));
    // The current page is marked, and the language switch returns here, escaped.
    assert!(admin.contains(r#"<a href="/admin/users" aria-current="page">"#));
    assert!(admin.contains(r#"name="back" value="/admin/users?x=1&#38;y=&#60;2&#62;">"#));
    assert!(admin.contains(r#"value="en" lang="en" aria-current="true""#));
}

#[test]
fn user_data_is_escaped() {
    let html = UsersPage {
        chrome: chrome(Lang::En, true),
        users: users(),
        error: None,
    }
    .render()
    .expect("renders");
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));

    let audit = AuditPage {
        chrome: chrome(Lang::En, true),
        entries: vec![AuditRow {
            id: 1,
            at: "now".into(),
            actor: "\"><b>x</b>".into(),
            action: "a".into(),
            target: "t".into(),
            detail: "<img src=x onerror=alert(1)>".into(),
        }],
        next_before: None,
    }
    .render()
    .expect("renders");
    assert!(!audit.contains("<img") && !audit.contains("<b>x"));

    // A CSRF value can never break out of its attributes.
    let mut c = chrome(Lang::En, true);
    c.csrf = "a\"b'c<d>e".into();
    let html = HomePage { chrome: c }.render().expect("renders");
    assert!(!html.contains("a\"b'c<d>e"));
    assert!(!html.contains("\"b'c"));
}

#[test]
fn users_page_offers_the_right_actions() {
    let html = UsersPage {
        chrome: chrome(Lang::En, true),
        users: users(),
        error: Some("user.last_admin"),
    }
    .render()
    .expect("renders");
    assert!(html.contains("The last active admin cannot be demoted or disabled."));
    // Not for oneself.
    assert!(!html.contains("/admin/users/1/"));
    // The others: a role select with the six roles and the current one selected.
    assert!(html.contains(r#"action="/admin/users/2/role""#));
    assert!(html.contains(r#"action="/admin/users/2/disable""#));
    assert!(!html.contains(r#"action="/admin/users/2/enable""#));
    assert!(html.contains(r#"action="/admin/users/3/enable""#));
    assert!(!html.contains(r#"action="/admin/users/3/disable""#));
    assert!(html.contains(r#"<option value="moderator" selected>"#));
    assert!(html.contains(r#"<option value="observer" selected>"#));
    assert_eq!(count(&html, "<option value="), 12);
    assert_eq!(count(&html, r#"name="role""#), 2);
}

#[test]
fn invites_sessions_and_audit_pages() {
    let html = InvitesPage {
        chrome: chrome(Lang::En, true),
        invites: invites(),
        new_link: Some("https://talaka.example.org/invite/abc_DEF-123".into()),
        error: None,
    }
    .render()
    .expect("renders");
    assert!(html.contains(r#"value="https://talaka.example.org/invite/abc_DEF-123""#));
    assert!(html.contains("secure channel"));
    assert!(html.contains(r#"action="/admin/invites""#));
    assert!(html.contains(r#"action="/admin/invites/10/revoke""#));
    for id in 11..14 {
        assert!(
            !html.contains(&format!("/admin/invites/{id}/revoke")),
            "{id}"
        );
    }
    for state in ["Usable", "Used", "Expired", "Revoked"] {
        assert!(html.contains(state), "{state}");
    }
    let without = InvitesPage {
        chrome: chrome(Lang::En, true),
        invites: invites(),
        new_link: None,
        error: None,
    }
    .render()
    .expect("renders");
    assert!(!without.contains("secure channel"));

    let sessions = SessionsPage {
        chrome: chrome(Lang::En, false),
        sessions: vec![
            SessionRow {
                id: 7,
                created: "c".into(),
                last_seen: "l".into(),
                current: true,
            },
            SessionRow {
                id: 8,
                created: "c".into(),
                last_seen: "l".into(),
                current: false,
            },
        ],
    }
    .render()
    .expect("renders");
    assert!(sessions.contains(r#"action="/account/sessions/8/end""#));
    assert!(!sessions.contains("/account/sessions/7/end"));
    assert!(sessions.contains("This device"));

    let invite = InvitePage {
        chrome: signed_out(Lang::En),
        token: "abc_DEF-123".into(),
        role: Role::Analyst,
        username: "new.one".into(),
        error: None,
    }
    .render()
    .expect("renders");
    assert!(invite.contains(r#"action="/invite/abc_DEF-123""#));
    for field in ["username", "password", "confirm"] {
        assert!(invite.contains(&format!(r#"name="{field}""#)), "{field}");
    }
    assert_eq!(count(&invite, r#"autocomplete="new-password""#), 2);
    assert!(invite.contains("Analyst"));

    let pw = PasswordPage {
        chrome: chrome(Lang::En, false),
        forced: false,
        error: None,
        notice: None,
    }
    .render()
    .expect("renders");
    for field in ["current", "new", "confirm"] {
        assert!(pw.contains(&format!(r#"name="{field}""#)), "{field}");
    }
    assert!(!pw.contains("one-time password"));
    assert!(pw.contains(r#"action="/account/password""#));

    let audit = AuditPage {
        chrome: chrome(Lang::En, true),
        entries: vec![],
        next_before: Some(42),
    }
    .render()
    .expect("renders");
    assert!(audit.contains(r#"href="/admin/audit?before=42""#));
    let last = AuditPage {
        chrome: chrome(Lang::En, true),
        entries: vec![],
        next_before: None,
    }
    .render()
    .expect("renders");
    assert!(!last.contains("before="));

    let error = ErrorPage {
        chrome: signed_out(Lang::Ru),
        status: 404,
        message_key: "error.404",
    }
    .render()
    .expect("renders");
    assert!(error.contains("404") && error.contains("Такой страницы нет."));
}

#[test]
fn templates_contain_nothing_csp_would_block() {
    for path in files_under(&crate_dir().join("templates")) {
        let text = read(&path);
        let p = path.display();
        assert!(!text.contains("style="), "{p}: inline style");
        assert!(!text.contains("<style"), "{p}: style element");
        assert!(!text.contains("javascript:"), "{p}");
        for tag in tags(&text, "<script") {
            assert!(attr(tag, "src").is_some(), "{p}: inline script");
        }
        for handler in [
            " onclick",
            " onload",
            " onsubmit",
            " onchange",
            " onerror",
            "hx-on",
        ] {
            assert!(!text.contains(handler), "{p}: inline handler {handler}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nothing from another host

/// XML namespace identifiers look like URLs but are never fetched. They are the only URLs
/// allowed in what Talaka serves, and only as the exact, quoted value of an `xmlns` or
/// `xmlns:prefix` attribute. (The vendored htmx 2.0.11 contains no URL at all; its one `//`
/// is the XPath `.//*`, which is not a reference to a host and passes the check as it stands.)
const NAMESPACES: &[&str] = &[
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/XML/1998/namespace",
];

/// Every reference to another host in `text`: any `scheme://…` (http, https, ftp, ws, …) that is
/// not a quoted namespace identifier, and any protocol-relative `//host` used as a value (after a
/// quote, `=`, `(` or `@import`, which covers `src=`, `href=`, `action=`, `url(`, `@import` and
/// string literals in JS and CSS).
fn foreign_urls(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("//").map(|i| i + from) {
        from = i + 2;
        let after = &text[i + 2..];
        let next_is_host = after
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '[' || c == '%');
        let snippet = || text[i.saturating_sub(20)..(i + 40).min(text.len())].to_owned();
        if i > 0 && bytes[i - 1] == b':' {
            // scheme://…: take the scheme letters before the colon.
            let start = text[..i - 1]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                .map_or(0, |p| p + 1);
            let scheme = &text[start..i - 1];
            if scheme.is_empty() {
                continue; // e.g. "a ://" is not a URL
            }
            let url_end = after
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '<' | '>' | '`')
                })
                .map_or(text.len(), |e| i + 2 + e);
            let url = &text[start..url_end];
            let quoted = start > 0
                && matches!(bytes[start - 1], b'"' | b'\'')
                && bytes.get(url_end) == Some(&bytes[start - 1]);
            let in_xmlns = text[..start.saturating_sub(1)]
                .strip_suffix('=')
                .and_then(|b| b.rsplit(|c: char| c.is_whitespace() || c == '<').next())
                .is_some_and(|attr| attr == "xmlns" || attr.starts_with("xmlns:"));
            if quoted && in_xmlns && NAMESPACES.contains(&url) {
                continue;
            }
            found.push(snippet());
        } else if next_is_host {
            let before = text[..i].trim_end();
            let protocol_relative = before.ends_with(['"', '\'', '`', '=', '('])
                || before.to_ascii_lowercase().ends_with("@import");
            if protocol_relative {
                found.push(snippet());
            }
        }
    }
    found
}

#[test]
fn the_foreign_url_check_catches_what_it_must() {
    let bad = [
        r#"<script src="https://cdn.example.com/htmx.js"></script>"#,
        r#"<link href="http://fonts.example.com/x.css">"#,
        r#"<form action="https://evil.example/login">"#,
        r#"<img src=//tracker.example/p.gif>"#,
        r#"<a href='//other.example/'>"#,
        "body { background: url(//img.example/a.png) }",
        "body { background: url(\"https://img.example/a.png\") }",
        "@import 'https://fonts.example/css';",
        "@import //fonts.example/css;",
        r#"fetch("https://telemetry.example/collect")"#,
        "const u = `//beacon.example/x`;",
        "new WebSocket('wss://live.example/')",
        "ftp://files.example/x",
        r#"<svg xmlns="http://www.w3.org/2000/svg.evil.example/">"#,
        r#"<a href="http://www.w3.org/2000/svg">"#,
        r#"<svg xmlns=http://www.w3.org/2000/svg>"#,
    ];
    for b in bad {
        assert!(!foreign_urls(b).is_empty(), "not caught: {b}");
    }
    let good = [
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"></svg>"#,
        r#"<a href="/admin/users">"#,
        "document.evaluate('.//*[@*[ starts-with(name(), \"hx-\")]]', x)",
        "/* a CSS comment */ a { color: red }",
        "// a JS line comment",
        "x = a // b;",
    ];
    for g in good {
        assert_eq!(foreign_urls(g), Vec::<String>::new(), "false alarm: {g}");
    }
}

#[test]
fn nothing_talaka_serves_refers_to_another_host() {
    let dir = crate_dir();
    let mut files = Vec::new();
    for sub in ["templates", "static", "i18n"] {
        files.extend(files_under(&dir.join(sub)));
    }
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for expected in [
        "htmx.min.js",
        "talaka.css",
        "favicon.svg",
        "base.html",
        "en.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not scanned"
        );
    }
    let mut problems = Vec::new();
    for path in &files {
        for hit in foreign_urls(&read(path)) {
            problems.push(format!("{}: …{hit}…", path.display()));
        }
    }
    // Also the compiled-in copies, which are what is actually served.
    for f in static_files::FILES {
        let text = std::str::from_utf8(f.body).expect("static files are UTF-8");
        for hit in foreign_urls(text) {
            problems.push(format!("served {}: …{hit}…", f.name));
        }
    }
    assert!(
        problems.is_empty(),
        "foreign URLs:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Static files

async fn get(uri: &str) -> axum::response::Response {
    let app = axum::Router::new().route("/static/{name}", axum::routing::get(static_files::serve));
    app.oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

#[tokio::test]
async fn allow_listed_files_are_served_with_the_right_headers() {
    let expected = [
        ("htmx.min.js", "text/javascript; charset=utf-8"),
        ("talaka.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml; charset=utf-8"),
    ];
    assert_eq!(static_files::FILES.len(), expected.len());
    for (name, content_type) in expected {
        let file = static_files::get(name).expect("listed");
        assert_eq!(file.content_type, content_type);
        let res = get(&format!("/static/{name}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], content_type);
        assert_eq!(h[header::CACHE_CONTROL], "public, max-age=86400");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = h[header::ETAG].to_str().expect("ascii").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
            "{etag}"
        );
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        assert_eq!(&body[..], file.body);
        let on_disk = std::fs::read(crate_dir().join("static").join(name)).expect("file");
        assert_eq!(on_disk, file.body);
    }
    assert_ne!(
        static_files::get("htmx.min.js").expect("listed").etag(),
        static_files::get("talaka.css").expect("listed").etag()
    );
}

#[tokio::test]
async fn anything_else_is_404() {
    for uri in [
        "/static/../Cargo.toml",
        "/static/..%2FCargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%5cCargo.toml",
        "/static/VENDORED.md",
        "/static/htmx.LICENSE",
        "/static/HTMX.MIN.JS",
        "/static/htmx.min.js%00",
        "/static/htmx.min.js.map",
        "/static/talaka.css%20",
        "/static/%2Fetc%2Fpasswd",
        "/static/nope",
    ] {
        let res = get(uri).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        assert!(res.headers().get(header::CACHE_CONTROL).is_none(), "{uri}");
    }
    for name in [
        "../Cargo.toml",
        "%2e%2e/Cargo.toml",
        "./htmx.min.js",
        "static/talaka.css",
        "",
    ] {
        assert!(static_files::get(name).is_none(), "{name}");
    }
}

#[test]
fn vendored_htmx_matches_its_pinned_hash() {
    let file = static_files::get("htmx.min.js").expect("listed");
    let text = std::str::from_utf8(file.body).expect("utf-8");
    let sha = talaka_core::crypto::token_fingerprint(text);
    assert_eq!(
        sha,
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    );
    let record = read(&crate_dir().join("static").join("VENDORED.md"));
    assert!(record.contains(&sha) && record.contains("2.0.11"));
    let module = read(&crate_dir().join("src").join("static_files.rs"));
    assert!(module.contains(&sha) && module.contains("2.0.11"));
    assert!(text.contains("version:\"2.0.11\"") || text.contains("\"2.0.11\""));
}
