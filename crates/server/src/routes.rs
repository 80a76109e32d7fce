//! The route table: every route Talaka serves, with who may use it. It is the access policy as
//! well as the map: the guard (`guard.rs`) refuses any matched route that is not listed here,
//! so a handler added without an entry cannot be reached (deny by default), and the
//! authorization-matrix test walks this table with every role.

use talaka_core::user::Permission;

/// Who may use a route. Record-level checks (whose session, whose case) are the handler's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account, including one that must first replace its one-time password.
    Account,
    /// A signed-in account with a password of its own.
    SignedIn,
    /// A signed-in account whose role has this permission.
    Can(Permission),
}

#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub method: &'static str,
    /// The axum path template, exactly as registered.
    pub path: &'static str,
    pub access: Access,
}

pub const fn r(method: &'static str, path: &'static str, access: Access) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
    }
}

use Access::*;
use Permission::*;

/// The foundation's routes. Each module keeps its own table beside its handlers; [`TABLES`]
/// lists them all.
pub const ROUTES: &[RouteSpec] = &[
    r("GET", "/", SignedIn),
    r("GET", "/login", Public),
    r("POST", "/login", Public),
    r("POST", "/logout", Account),
    r("POST", "/lang", Public),
    r("GET", "/account/password", Account),
    r("POST", "/account/password", Account),
    r("GET", "/account/sessions", SignedIn),
    r("POST", "/account/sessions/{id}/end", SignedIn),
    r("GET", "/admin/users", Can(ManageUsers)),
    r("POST", "/admin/users/{id}/role", Can(ManageUsers)),
    r("POST", "/admin/users/{id}/disable", Can(ManageUsers)),
    r("POST", "/admin/users/{id}/enable", Can(ManageUsers)),
    r("GET", "/admin/invites", Can(ManageUsers)),
    r("POST", "/admin/invites", Can(ManageUsers)),
    r("POST", "/admin/invites/{id}/revoke", Can(ManageUsers)),
    r("GET", "/admin/audit", Can(ViewAudit)),
    r("GET", "/invite/{token}", Public),
    r("POST", "/invite/{token}", Public),
    r("GET", "/api/v1/me", SignedIn),
    r("GET", "/healthz", Public),
    // Guarded by its own bearer token when one is configured.
    r("GET", "/metrics", Public),
    r("GET", "/static/{name}", Public),
];

/// Every route table: the foundation's and each module's.
pub const TABLES: &[&[RouteSpec]] = &[
    ROUTES,
    crate::elections_web::ROUTES,
    crate::participate::ROUTES,
    crate::moderation::ROUTES,
    crate::api::ROUTES,
    crate::telegram::ROUTES,
    crate::cases::ROUTES,
    crate::safety_bot::ROUTES,
];

/// Every route Talaka serves, from all tables.
pub fn all() -> impl Iterator<Item = &'static RouteSpec> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// The entry for a method and matched path template. `HEAD` is answered by `GET` routes.
pub fn lookup(method: &str, path: &str) -> Option<&'static RouteSpec> {
    let method = if method == "HEAD" { "GET" } else { method };
    all().find(|r| r.method == method && r.path == path)
}

/// Methods listed for a path, for `405 Method Not Allowed`'s `Allow` header.
pub fn methods_for(path: &str) -> Vec<&'static str> {
    all().filter(|r| r.path == path).map(|r| r.method).collect()
}

/// Whether a path belongs to the JSON API (errors as JSON, `401` instead of a redirect).
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}
