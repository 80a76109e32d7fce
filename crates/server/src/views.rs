//! The server-rendered pages. Each page is an askama template in `templates/` that extends
//! `base.html`; handlers build the structs below and call `.render()`.
//!
//! Every text goes through [`Chrome::t`], every `<form method="post">` carries the CSRF token
//! in a hidden `csrf` field, and nothing loads from another host (checked by `tests/views.rs`).
//! Askama escapes every value for HTML, so user names and audit details cannot inject markup.

use askama::Template;
use talaka_core::user::Role;

use crate::i18n::Lang;

/// What every page needs: the language, the CSRF token, who is signed in, and where we are.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub lang: Lang,
    pub csrf: String,
    pub user: Option<ChromeUser>,
    /// The current path and query, for the language switch to return to.
    pub path: String,
}

/// The signed-in staff member, as far as the page frame needs to know.
#[derive(Clone, Debug)]
pub struct ChromeUser {
    pub username: String,
    pub role: Role,
    pub can_manage_users: bool,
    pub can_view_audit: bool,
}

impl Chrome {
    /// The text for an i18n key in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// A role's name in the page's language.
    pub fn role_name(&self, r: &Role) -> &'static str {
        self.t(role_key(*r))
    }

    /// One sentence on what a role is for.
    pub fn role_about(&self, r: &Role) -> &'static str {
        self.t(match r {
            Role::Admin => "role_about.admin",
            Role::Coordinator => "role_about.coordinator",
            Role::Analyst => "role_about.analyst",
            Role::Moderator => "role_about.moderator",
            Role::Lawyer => "role_about.lawyer",
            Role::Observer => "role_about.observer",
        })
    }

    /// The roles, in the order the selects offer them.
    pub fn roles(&self) -> [Role; 6] {
        Role::ALL
    }

    /// The languages, for the language switch.
    pub fn langs(&self) -> [Lang; 3] {
        Lang::ALL
    }

    pub fn is_lang(&self, l: &Lang) -> bool {
        self.lang == *l
    }

    /// Whether the current page is `href` (the query string is ignored), for `aria-current`.
    pub fn at(&self, href: &str) -> bool {
        let path = self.path.split(['?', '#']).next().unwrap_or_default();
        path == href
    }

    /// The `hx-headers` value that makes htmx requests carry the CSRF token, as JSON. Askama then
    /// escapes it for the attribute, so no token value can break out of it.
    pub fn hx_headers(&self) -> String {
        serde_json::json!({ "X-CSRF-Token": self.csrf }).to_string()
    }

    /// The badge style for an `invite.state.*` key.
    pub fn state_class(&self, state: &str) -> &'static str {
        match state {
            "invite.state.usable" => "ok",
            "invite.state.revoked" => "bad",
            _ => "",
        }
    }
}

/// The i18n key of a role's name.
pub fn role_key(r: Role) -> &'static str {
    match r {
        Role::Admin => "role.admin",
        Role::Coordinator => "role.coordinator",
        Role::Analyst => "role.analyst",
        Role::Moderator => "role.moderator",
        Role::Lawyer => "role.lawyer",
        Role::Observer => "role.observer",
    }
}

/// The keys an [`InviteRow::state`] may hold.
pub const INVITE_STATES: [&str; 4] = [
    "invite.state.usable",
    "invite.state.used",
    "invite.state.expired",
    "invite.state.revoked",
];

/// `GET /login`.
#[derive(Template, Debug)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    /// The name typed last time, so a failed attempt need not retype it.
    pub username: String,
    /// An i18n key.
    pub error: Option<&'static str>,
}

/// `GET /`: a welcome, the visitor's role, and links to what the role may use.
#[derive(Template, Debug)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
}

/// `GET /account/password`.
#[derive(Template, Debug)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub chrome: Chrome,
    /// The account signed in with a one-time password that must be replaced first.
    pub forced: bool,
    pub error: Option<&'static str>,
    pub notice: Option<&'static str>,
}

/// `GET /account/sessions`.
#[derive(Template, Debug)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub chrome: Chrome,
    pub sessions: Vec<SessionRow>,
}

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: i64,
    pub created: String,
    pub last_seen: String,
    /// The session this page was requested with ("this device"); it cannot be ended here.
    pub current: bool,
}

/// `GET /admin/users`.
#[derive(Template, Debug)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub error: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created: String,
    /// The admin looking at the page; no role change or disabling is offered for oneself.
    pub is_self: bool,
}

/// `GET /admin/invites`.
#[derive(Template, Debug)]
#[template(path = "admin_invites.html")]
pub struct InvitesPage {
    pub chrome: Chrome,
    pub invites: Vec<InviteRow>,
    /// The link of an invite just created: shown this once, with a note to send it securely.
    pub new_link: Option<String>,
    pub error: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct InviteRow {
    pub id: i64,
    pub role: Role,
    pub created: String,
    pub expires: String,
    /// One of [`INVITE_STATES`].
    pub state: &'static str,
}

/// `GET /invite/{token}`: create an account from an invitation.
#[derive(Template, Debug)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub chrome: Chrome,
    pub token: String,
    pub role: Role,
    pub username: String,
    pub error: Option<&'static str>,
}

/// `GET /admin/audit`, newest first, one page at a time.
#[derive(Template, Debug)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub entries: Vec<AuditRow>,
    /// The `before` cursor of the next (older) page, if there is one.
    pub next_before: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Any error shown as a page.
#[derive(Template, Debug)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    /// An i18n key such as `error.404` or `error.csrf`.
    pub message_key: &'static str,
}
