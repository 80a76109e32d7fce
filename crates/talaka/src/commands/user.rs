//! `talaka user add | list | set-role | disable | enable`: account management at the console.
//! Every change is written with its audit entry (actor: the console).

use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow, bail};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::config::Config;
use talaka_core::crypto::{hash_password, one_time_password};
use talaka_core::user::{NewPassword, Role, Username};
use talaka_core::{Clock, Secret, SystemClock};
use talaka_store::{NewUser, Store, StoreError, User};

use crate::cli::UserCommand;
use crate::db;

pub async fn run(config: &Config, cmd: UserCommand) -> Result<()> {
    let url = config.database()?;
    let clock = SystemClock;
    if let UserCommand::List = cmd {
        let store = db::open_existing(&url).await?;
        let users = store.list_users().await.context("cannot list users")?;
        print!("{}", user_table(&users));
        return Ok(());
    }
    // Refuse bad input before touching the database.
    match &cmd {
        UserCommand::Add { name, role } | UserCommand::SetRole { name, role } => {
            Username::parse(name)?;
            Role::parse(role)?;
        }
        UserCommand::Disable { name } | UserCommand::Enable { name } => {
            Username::parse(name)?;
        }
        UserCommand::List => {}
    }
    // Changes bring the schema up to date first, so `user add` works on a fresh install.
    let (store, _) = db::open_migrated(&url).await?;
    change(store.as_ref(), &clock, cmd).await
}

async fn change(store: &dyn Store, clock: &dyn Clock, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::List => bail!("not a change"),
        UserCommand::Add { name, role } => {
            let username = Username::parse(&name)?;
            let role = Role::parse(&role)?;
            let (user, password) = add_user(store, clock, username, role).await?;
            println!("Created user {} with role {}.", user.username, user.role);
            println!("One-time password: {}", password.expose());
            println!(
                "It is shown only this once. {} must choose a new password at first sign-in.",
                user.username
            );
            Ok(())
        }
        UserCommand::SetRole { name, role } => {
            let role = Role::parse(&role)?;
            let user = find(store, &name).await?;
            if user.role == role {
                println!(
                    "{} already has the role {role}; nothing changed.",
                    user.username
                );
                return Ok(());
            }
            if user.role == Role::Admin && !user.disabled {
                refuse_if_last_admin(store, "demote").await?;
            }
            let audit = NewAudit::new(clock.now(), Actor::Cli, AuditAction::RoleChanged)
                .target(format!("user:{}", user.id))
                .detail(format!("{} → {}", user.role, role));
            store
                .set_role(user.id, role, &audit)
                .await
                .context("cannot change the role")?;
            println!(
                "{}: role changed from {} to {role}.",
                user.username, user.role
            );
            Ok(())
        }
        UserCommand::Disable { name } => {
            let user = find(store, &name).await?;
            if user.disabled {
                println!("{} is already disabled; nothing changed.", user.username);
                return Ok(());
            }
            if user.role == Role::Admin {
                refuse_if_last_admin(store, "disable").await?;
            }
            let audit = NewAudit::new(clock.now(), Actor::Cli, AuditAction::UserDisabled)
                .target(format!("user:{}", user.id))
                .detail("disabled at the console; sessions ended");
            store
                .set_disabled(user.id, true, &audit)
                .await
                .context("cannot disable the account")?;
            println!("{} is disabled and signed out everywhere.", user.username);
            Ok(())
        }
        UserCommand::Enable { name } => {
            let user = find(store, &name).await?;
            if !user.disabled {
                println!("{} is already active; nothing changed.", user.username);
                return Ok(());
            }
            let audit = NewAudit::new(clock.now(), Actor::Cli, AuditAction::UserEnabled)
                .target(format!("user:{}", user.id))
                .detail("enabled at the console");
            store
                .set_disabled(user.id, false, &audit)
                .await
                .context("cannot enable the account")?;
            println!("{} is active again.", user.username);
            Ok(())
        }
    }
}

/// Create an account with a fresh one-time password that must be changed at first sign-in.
/// Returns the account and the password, which the caller shows once and forgets.
pub async fn add_user(
    store: &dyn Store,
    clock: &dyn Clock,
    username: Username,
    role: Role,
) -> Result<(User, Secret<String>)> {
    let password = one_time_password().context("cannot make a one-time password")?;
    let hash = hash_password(&NewPassword::parse(password.expose())?)
        .context("cannot hash the password")?;
    let now = clock.now();
    let new = NewUser {
        username: username.clone(),
        role,
        password_hash: Secret::new(hash),
        must_change_password: true,
        created_at: now,
    };
    // The new account's id does not exist yet: the target names the account by its login name
    // (a pseudonym the organisation chose), as the store's test story does.
    let audit = NewAudit::new(now, Actor::Cli, AuditAction::UserCreated)
        .target(format!("username:{username}"))
        .detail(format!("created at the console with role {role}"));
    match store.create_user(&new, &audit).await {
        Ok(user) => Ok((user, password)),
        Err(StoreError::Conflict(_)) => bail!("a user named {username} already exists"),
        Err(e) => Err(anyhow!(e).context("cannot create the user")),
    }
}

async fn find(store: &dyn Store, name: &str) -> Result<User> {
    let username = Username::parse(name)?;
    store
        .user_by_username(&username)
        .await
        .context("cannot look up the user")?
        .ok_or_else(|| anyhow!("no user named {username}; see `talaka user list`"))
}

async fn refuse_if_last_admin(store: &dyn Store, verb: &str) -> Result<()> {
    let admins = store
        .count_active_admins()
        .await
        .context("cannot count admins")?;
    if admins <= 1 {
        bail!("refusing to {verb} the last active admin; make another account admin first");
    }
    Ok(())
}

/// An aligned table: id, name, role, status and creation date.
fn user_table(users: &[User]) -> String {
    if users.is_empty() {
        return "No users yet. Create one with `talaka user add NAME --role admin`.\n".to_owned();
    }
    let header = ["ID", "NAME", "ROLE", "STATUS", "CREATED"];
    let rows: Vec<[String; 5]> = users
        .iter()
        .map(|u| {
            let created = u.created_at.to_string();
            let date = created.split(' ').next().unwrap_or_default().to_owned();
            [
                u.id.to_string(),
                u.username.to_string(),
                u.role.to_string(),
                if u.disabled { "disabled" } else { "active" }.to_owned(),
                date,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use talaka_core::Timestamp;
    use talaka_core::user::UserId;

    fn user(id: i64, name: &str, role: Role, disabled: bool) -> User {
        User {
            id: UserId(id),
            username: Username::parse(name).expect("valid name"),
            role,
            password_hash: Secret::new(String::new()),
            disabled,
            must_change_password: false,
            created_at: Timestamp(1_597_003_200_000),
        }
    }

    #[test]
    fn the_user_table_is_aligned() {
        let t = user_table(&[
            user(1, "admin", Role::Admin, false),
            user(12, "observer-anna", Role::Observer, true),
        ]);
        let expected = "\
ID  NAME           ROLE      STATUS    CREATED
1   admin          admin     active    2020-08-09
12  observer-anna  observer  disabled  2020-08-09
";
        assert_eq!(t, expected);
    }
}
