//! Who may do what: every handler of the REST API and the web app asks [`authorize`] for the
//! [`Principal`] behind a request and the [`Scope`] it needs, and reads accounts, tasks and
//! people only through the principal's [`Principal::sees`] and [`Principal::person`]. Books
//! and personal-data masking are decided here and nowhere else, so the API, the web app and
//! every export apply them alike.
//!
//! A request is made by one of:
//! - an **admin token**: every scope, every account, personal data unmasked;
//! - an **API token**: the scopes it was made with (`tenure tokens create --scope …`); every
//!   account; personal data only with the `pii` scope;
//! - a **signed-in user** (the session cookie): the scopes of their role, their book, and
//!   personal data only with the permission. Unsafe requests of a session must echo its
//!   CSRF token.
//!
//! Write keys are refused here: they may only send events.

use axum::http::{HeaderMap, Method, StatusCode};
use tenure_domain::model::Role;
use tenure_store::{secret, Book, CredentialKind, Session, Store};

use crate::{ApiError, AppState};

/// A permission a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Accounts, their health, history and CSM coverage (within the book).
    AccountsRead,
    /// The task inbox and SLA report (within the book).
    TasksRead,
    /// Assigning, snoozing and completing tasks (within the book).
    TasksWrite,
    /// Editing an account's success plan and handoff brief (within the book).
    PlansWrite,
    /// Survey requests and their response rates (within the book).
    SurveysRead,
    /// Importing survey responses (every account).
    SurveysWrite,
    /// Portfolio metrics, cohorts and evidence: whole-company figures.
    MetricsRead,
    /// The data-quality report.
    DataQualityRead,
    /// The audit log.
    AuditRead,
    /// Personal data (contact names, emails, user ids) unmasked. Never required: it changes
    /// what a response shows.
    Pii,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::AccountsRead,
        Scope::TasksRead,
        Scope::TasksWrite,
        Scope::PlansWrite,
        Scope::SurveysRead,
        Scope::SurveysWrite,
        Scope::MetricsRead,
        Scope::DataQualityRead,
        Scope::AuditRead,
        Scope::Pii,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::AccountsRead => "accounts:read",
            Scope::TasksRead => "tasks:read",
            Scope::TasksWrite => "tasks:write",
            Scope::PlansWrite => "plans:write",
            Scope::SurveysRead => "surveys:read",
            Scope::SurveysWrite => "surveys:write",
            Scope::MetricsRead => "metrics:read",
            Scope::DataQualityRead => "data_quality:read",
            Scope::AuditRead => "audit:read",
            Scope::Pii => "pii",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Every scope name, for messages.
    pub fn names() -> String {
        Scope::ALL.map(Scope::name).join(", ")
    }

    /// Whole-portfolio data, which a principal limited to their own book may not read.
    pub fn is_portfolio(self) -> bool {
        matches!(
            self,
            Scope::SurveysWrite | Scope::MetricsRead | Scope::DataQualityRead | Scope::AuditRead
        )
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u16);

impl Scopes {
    pub fn all() -> Scopes {
        Scopes(Scope::ALL.iter().fold(0, |a, s| a | s.bit()))
    }

    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |a, s| a | s.bit()))
    }

    pub fn has(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn list(self) -> Vec<Scope> {
        Scope::ALL.into_iter().filter(|s| self.has(*s)).collect()
    }

    /// The scopes of a role (personal data is a permission of the user, not of the role).
    pub fn of_role(role: Role) -> Scopes {
        use Scope::*;
        match role {
            Role::Admin => Scopes(Scopes::all().0 & !Pii.bit()),
            Role::Leader => Scopes::of(&[
                AccountsRead,
                TasksRead,
                SurveysRead,
                MetricsRead,
                DataQualityRead,
            ]),
            Role::Manager => Scopes::of(&[
                AccountsRead,
                TasksRead,
                TasksWrite,
                PlansWrite,
                SurveysRead,
                MetricsRead,
            ]),
            Role::Csm => Scopes::of(&[
                AccountsRead,
                TasksRead,
                TasksWrite,
                PlansWrite,
                SurveysRead,
                MetricsRead,
            ]),
            Role::Product => Scopes::of(&[AccountsRead, SurveysRead, MetricsRead, DataQualityRead]),
            Role::Viewer => Scopes::of(&[AccountsRead, MetricsRead]),
        }
    }

    /// A user's scopes: their role's, and personal data with the permission.
    pub fn of_user(user: &tenure_store::User) -> Scopes {
        let role = Scopes::of_role(user.role);
        if user.pii {
            Scopes(role.0 | Scope::Pii.bit())
        } else {
            role
        }
    }

    /// Parses scope names as `tenure tokens create --scope` takes them.
    pub fn parse(names: &[String]) -> Result<Scopes, String> {
        let mut out = Scopes::default();
        for n in names {
            let s = Scope::from_name(n.trim()).ok_or_else(|| {
                format!("unknown scope `{n}`: expected one of {}", Scope::names())
            })?;
            out.0 |= s.bit();
        }
        Ok(out)
    }
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Principal {
    /// For the audit log: a user's email or a credential id.
    pub actor: String,
    /// The user's role; `None` for a token.
    pub role: Option<Role>,
    pub scopes: Scopes,
    pub book: Book,
    /// The user whose accounts an `own` book holds (accounts whose owner is this email).
    pub owner: Option<String>,
    /// With a `team` book: the owners whose accounts it holds (the user and their direct
    /// reports), lower-cased.
    pub team: Vec<String>,
    /// The session, when signed in (the web app needs its CSRF token).
    pub session: Option<Session>,
}

impl Principal {
    pub fn can(&self, scope: Scope) -> bool {
        self.scopes.has(scope) && (!scope.is_portfolio() || self.book == Book::All)
    }

    /// Whether this principal's book holds an account with this owner.
    pub fn sees(&self, owner: Option<&str>) -> bool {
        match self.book {
            Book::All => true,
            Book::Own => match (owner, &self.owner) {
                (Some(o), Some(me)) => o.eq_ignore_ascii_case(me),
                _ => false,
            },
            Book::Team => {
                owner.is_some_and(|o| self.team.iter().any(|t| o.eq_ignore_ascii_case(t)))
            }
        }
    }

    /// Whether personal data is shown unmasked.
    pub fn pii(&self) -> bool {
        self.scopes.has(Scope::Pii)
    }

    /// A person's name, email or user id as this principal may see it: itself with the
    /// personal-data permission; otherwise an email keeps only its domain and anything else
    /// becomes a stable pseudonym (the same person is recognisable across rows, never named).
    pub fn person(&self, value: &str) -> String {
        if self.pii() {
            return value.to_owned();
        }
        mask(value)
    }

    /// The role's name, or `token`.
    pub fn role_name(&self) -> &'static str {
        self.role.map_or("token", Role::name)
    }
}

/// Masks a person's name, email or id (see [`Principal::person`]).
pub fn mask(value: &str) -> String {
    let digest = secret::hash(value);
    let tag = &digest[..8.min(digest.len())];
    match value.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => format!("person-{tag}@{domain}"),
        _ => format!("person-{tag}"),
    }
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> ApiError {
    ApiError {
        status,
        code,
        message,
    }
}

/// The bearer token of the request, if it sends one.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Some(t.trim().to_owned()))
        .ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_authorization",
                "the Authorization header must be `Bearer TOKEN`".to_owned(),
            )
        })
}

/// Who makes the request, without checking what they may do: a token if one is sent, else
/// the session.
pub async fn principal(
    store: &dyn Store,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    if let Some(token) = bearer(headers)? {
        let credential = store
            .credential_by_hash(&secret::hash(&token))
            .await
            .map_err(crate::error::store_unavailable)?;
        return match credential {
            Some(c) if c.revoked_at.is_none() && c.kind == CredentialKind::AdminToken => {
                Ok(Principal {
                    actor: c.id,
                    role: None,
                    scopes: Scopes::all(),
                    book: Book::All,
                    owner: None,
                    team: Vec::new(),
                    session: None,
                })
            }
            Some(c) if c.revoked_at.is_none() && c.kind == CredentialKind::ApiToken => {
                // A stored scope this build does not know grants nothing (fail closed).
                let scopes = Scopes::of(
                    &c.scopes
                        .iter()
                        .filter_map(|s| Scope::from_name(s))
                        .collect::<Vec<_>>(),
                );
                Ok(Principal {
                    actor: c.id,
                    role: None,
                    scopes,
                    book: Book::All,
                    owner: None,
                    team: Vec::new(),
                    session: None,
                })
            }
            Some(c) if c.revoked_at.is_none() && c.kind == CredentialKind::WriteKey => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "not_an_api_token",
                "a write key may only send events; use an API or admin token".to_owned(),
            )),
            _ => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is unknown or revoked".to_owned(),
            )),
        };
    }
    let (user, session) = match crate::auth::session_user(store, headers).await {
        Ok(found) => found,
        // A store that cannot answer is not "not signed in".
        Err(e) if e.status != StatusCode::UNAUTHORIZED => return Err(e),
        Err(_) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "send an API token as `Authorization: Bearer TOKEN`, or sign in (POST /login)"
                    .to_owned(),
            ))
        }
    };
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        crate::auth::check_csrf(&session, headers)?;
    }
    let team = if user.book == Book::Team {
        let mut team: Vec<String> = store
            .reports_of(&user.email)
            .await
            .map_err(crate::error::store_unavailable)?
            .into_iter()
            .map(|u| u.email.to_lowercase())
            .collect();
        team.push(user.email.to_lowercase());
        team
    } else {
        Vec::new()
    };
    Ok(Principal {
        actor: user.email.clone(),
        role: Some(user.role),
        team,
        scopes: Scopes::of_user(&user),
        book: user.book,
        owner: Some(user.email),
        session: Some(session),
    })
}

/// The principal of a request that needs `scope`, or why not: 401 without credentials, 403
/// when they do not reach.
pub async fn authorize(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Principal, ApiError> {
    let p = principal(state.store.as_ref(), method, headers).await?;
    require(&p, scope)?;
    Ok(p)
}

/// Refuses a principal without `scope`, naming what is missing.
pub fn require(p: &Principal, scope: Scope) -> Result<(), ApiError> {
    if !p.scopes.has(scope) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the `{}` permission, which a {} does not have",
                scope.name(),
                p.role_name()
            ),
        ));
    }
    if scope.is_portfolio() && p.book != Book::All {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "book_limited",
            format!(
                "`{}` is whole-portfolio data; your book is {} (ask an admin for `--book all`)",
                scope.name(),
                if p.book == Book::Team {
                    "your team's accounts"
                } else {
                    "your own accounts"
                }
            ),
        ));
    }
    Ok(())
}

/// The accounts a principal's book holds, for filtering lists of things that name an account
/// (tasks, survey requests): every account, or the set a book-limited user owns.
pub struct BookFilter {
    accounts: Option<std::collections::HashSet<String>>,
}

impl BookFilter {
    pub fn holds(&self, account: &str) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.contains(account))
    }
}

/// The book of `p`: account owners as the engine knows them, or as the store's account records
/// say on a server that does not score.
pub async fn book_of(state: &AppState, p: &Principal) -> Result<BookFilter, ApiError> {
    if p.book == Book::All {
        return Ok(BookFilter { accounts: None });
    }
    let accounts = match &state.engine {
        Some(engine) => engine
            .accounts_where(|owner| p.sees(owner))
            .into_iter()
            .collect(),
        None => {
            crate::metrics::read_all(state.store.as_ref(), &[tenure_domain::RecordKind::Account])
                .await
                .map_err(crate::error::store_unavailable)?
                .into_iter()
                .filter_map(|r| match r {
                    tenure_domain::Record::Account(a) => p
                        .sees(a.owner.as_ref().map(|o| o.as_str()))
                        .then(|| a.id.as_str().to_owned()),
                    _ => None,
                })
                .collect()
        }
    };
    Ok(BookFilter {
        accounts: Some(accounts),
    })
}

/// Whether `p`'s book holds `account`: its owner as the engine knows it, or as the store's
/// account record says on a server that does not score.
pub async fn holds_account(
    state: &AppState,
    p: &Principal,
    account: &str,
) -> Result<bool, ApiError> {
    if p.book == Book::All {
        return Ok(true);
    }
    if let Some(engine) = &state.engine {
        return Ok(engine
            .summary(account)
            .is_some_and(|s| p.sees(s.owner.as_deref())));
    }
    let record = state
        .store
        .get(tenure_domain::RecordKind::Account, account)
        .await
        .map_err(crate::error::store_unavailable)?;
    Ok(match record {
        Some(tenure_domain::Record::Account(a)) => p.sees(a.owner.as_ref().map(|o| o.as_str())),
        _ => false,
    })
}

/// Appends to the audit log what a principal did; a log that cannot be written is logged as
/// an error and does not fail the request that already happened.
pub async fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    target: Option<&str>,
    outcome: &str,
    detail: serde_json::Value,
) {
    let entry = tenure_store::AuditEntry {
        seq: 0,
        at: chrono::Utc::now().fixed_offset(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        outcome: outcome.to_owned(),
        detail,
    };
    if let Err(e) = store.append_audit(&entry).await {
        tracing::error!(error = %e, action, "the audit log cannot be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, book: Book, pii: bool) -> Principal {
        let mut scopes = Scopes::of_role(role);
        if pii {
            scopes.0 |= Scope::Pii.bit();
        }
        Principal {
            actor: "ann@vendor.example".into(),
            role: Some(role),
            scopes,
            book,
            owner: Some("ann@vendor.example".into()),
            team: vec!["ann@vendor.example".into(), "bob@vendor.example".into()],
            session: None,
        }
    }

    #[test]
    fn books_and_masks() {
        let csm = user(Role::Csm, Book::Own, false);
        assert!(csm.sees(Some("ANN@vendor.example")));
        assert!(!csm.sees(Some("bob@vendor.example")));
        assert!(!csm.sees(None));
        assert!(!csm.can(Scope::MetricsRead));
        assert!(require(&csm, Scope::MetricsRead).is_err());
        assert!(require(&csm, Scope::TasksWrite).is_ok());
        let leader = user(Role::Leader, Book::All, true);
        assert!(leader.sees(None));
        assert!(leader.can(Scope::MetricsRead));
        assert!(!leader.can(Scope::TasksWrite));
        assert_eq!(leader.person("jo@acme.example"), "jo@acme.example");
        let masked = csm.person("jo@acme.example");
        assert!(masked.ends_with("@acme.example") && !masked.contains("jo@"));
        assert_eq!(masked, csm.person("jo@acme.example"));
        assert_ne!(masked, csm.person("al@acme.example"));
        assert!(!csm.person("Jo Smith").contains("Jo"));
        assert!(!Scopes::of_role(Role::Admin).has(Scope::Pii));
        // A team's book: the manager's and their reports' accounts, nobody else's, and no
        // whole-portfolio data.
        let lead = user(Role::Manager, Book::Team, false);
        assert!(lead.sees(Some("Bob@vendor.example")) && lead.sees(Some("ann@vendor.example")));
        assert!(!lead.sees(Some("cy@vendor.example")) && !lead.sees(None));
        assert!(!lead.can(Scope::MetricsRead) && lead.can(Scope::TasksRead));
    }

    #[test]
    fn scopes_parse_by_name() {
        let s = Scopes::parse(&["accounts:read".into(), "pii".into()]).unwrap();
        assert_eq!(s.list(), vec![Scope::AccountsRead, Scope::Pii]);
        let e = Scopes::parse(&["accounts:write".into()]).unwrap_err();
        assert!(
            e.contains("accounts:write") && e.contains("metrics:read"),
            "{e}"
        );
        for s in Scope::ALL {
            assert_eq!(Scope::from_name(s.name()), Some(s));
        }
    }
}
