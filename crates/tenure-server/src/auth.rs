//! Signing in. `POST /login` (a form or JSON: `email`, `password`) checks the password against
//! the user's argon2id hash and opens a session: a random 256-bit token in the
//! `tenure_session` cookie (HttpOnly, SameSite=Strict, Path=/, 12 hours; Secure when the
//! request came over HTTPS, as a TLS-terminating proxy says with `X-Forwarded-Proto`), of
//! which the store keeps only the SHA-256, beside a CSRF token. `GET /api/v1/me` says who is
//! signed in and gives the CSRF token; every unsafe request of a session (`POST /logout` and,
//! as they come, the web app's forms) must echo it in `X-CSRF-Token`, which another site cannot
//! read or set. `POST /logout` ends the session.
//!
//! A wrong password, an unknown email and a disabled user get the same answer, after the
//! same work (an unknown email is checked against a dummy hash), so the answer does not tell
//! which emails have accounts. Every attempt is in the audit log.
//!
//! Sessions grant nothing else yet: the rest of the API takes API tokens only, until roles and
//! books are enforced there.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tenure_store::{secret, AuditEntry, Book, Session, Store, User};

use crate::{ApiError, AppState};

pub const COOKIE: &str = "tenure_session";
/// How long a session lasts from sign-in.
pub const SESSION_HOURS: i64 = 12;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/api/v1/me", get(me))
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Serialize)]
pub struct Me {
    pub email: String,
    pub name: Option<String>,
    pub role: &'static str,
    pub book: Book,
    pub pii: bool,
    /// Echo it in `X-CSRF-Token` on unsafe requests.
    pub csrf_token: String,
    pub expires_at: String,
}

fn error(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError {
        status,
        code,
        message: message.to_owned(),
    }
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    secret::random_hex(bytes).map_err(|e| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_randomness",
            &e.to_string(),
        )
    })
}

/// A hash no password matches, checked when the email is unknown so that the answer takes
/// as long as for a known one.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        secret::password::generate()
            .and_then(|p| secret::password::hash(&p))
            .unwrap_or_default()
    })
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    outcome: &str,
    detail: serde_json::Value,
) {
    let entry = AuditEntry {
        seq: 0,
        at: chrono::Utc::now().fixed_offset(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: None,
        outcome: outcome.to_owned(),
        detail,
    };
    if let Err(e) = store.append_audit(&entry).await {
        tracing::error!(error = %e, action, "the audit log cannot be written");
    }
}

fn parse_credentials(headers: &HeaderMap, body: &[u8]) -> Result<Credentials, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed = if json {
        serde_json::from_slice::<Credentials>(body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes::<Credentials>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            &format!("send `email` and `password`, as a form or as JSON: {e}"),
        )
    })
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match sign_in(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn sign_in(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let c = parse_credentials(headers, body)?;
    let email = c.email.trim().to_lowercase();
    let store = state.store.as_ref();
    let user = store
        .user_by_email(&email)
        .await
        .map_err(crate::error::store_unavailable)?;
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The same work whatever the case: a hash is always checked.
    let matches = secret::password::verify(
        &c.password,
        user.as_ref()
            .map_or(dummy_hash(), |u| u.password_hash.as_str()),
    );
    let refused = match &user {
        None => Some("unknown email"),
        Some(_) if !matches => Some("wrong password"),
        Some(u) if u.disabled_at.is_some() => Some("disabled user"),
        Some(_) => None,
    };
    if let Some(reason) = refused {
        audit(
            store,
            &email,
            "login",
            "denied",
            serde_json::json!({"reason": reason, "forwarded_for": forwarded}),
        )
        .await;
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "login_failed",
            "the email or the password is wrong",
        ));
    }
    let user = user.expect("refused when absent");
    let token = random_hex(32)?;
    let now = chrono::Utc::now().fixed_offset();
    let session = Session {
        token_hash: secret::hash(&token),
        user_email: user.email.clone(),
        csrf_token: random_hex(16)?,
        created_at: now,
        expires_at: now + chrono::Duration::hours(SESSION_HOURS),
    };
    store
        .insert_session(&session)
        .await
        .map_err(crate::error::store_unavailable)?;
    audit(
        store,
        &user.email,
        "login",
        "ok",
        serde_json::json!({"forwarded_for": forwarded}),
    )
    .await;
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if https { "; Secure" } else { "" }
    );
    let mut response = Json(me_of(&user, &session)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

fn me_of(user: &User, session: &Session) -> Me {
    Me {
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role.name(),
        book: user.book,
        pii: user.pii,
        csrf_token: session.csrf_token.clone(),
        expires_at: session
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The session cookie's token, if the request carries one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_owned())
        })
}

/// The signed-in user and their session: a live session of an enabled user.
pub(crate) async fn session_user(
    store: &dyn Store,
    headers: &HeaderMap,
) -> Result<(User, Session), ApiError> {
    let unauthorised = || {
        error(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "sign in first: POST /login with `email` and `password`",
        )
    };
    let token = cookie_token(headers).ok_or_else(unauthorised)?;
    let session = store
        .session_by_hash(&secret::hash(&token))
        .await
        .map_err(crate::error::store_unavailable)?
        .filter(|s| s.expires_at > chrono::Utc::now())
        .ok_or_else(unauthorised)?;
    let user = store
        .user_by_email(&session.user_email)
        .await
        .map_err(crate::error::store_unavailable)?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(unauthorised)?;
    Ok((user, session))
}

/// Refuses an unsafe request of a session that does not echo its CSRF token.
pub(crate) fn check_csrf(session: &Session, headers: &HeaderMap) -> Result<(), ApiError> {
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if same(sent, &session.csrf_token) {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "csrf_token_missing",
            "send the session's CSRF token (GET /api/v1/me) in the X-CSRF-Token header",
        ))
    }
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Me>, ApiError> {
    let (user, session) = session_user(state.store.as_ref(), &headers).await?;
    Ok(Json(me_of(&user, &session)))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let store = state.store.as_ref();
    let (user, session) = session_user(store, &headers).await?;
    check_csrf(&session, &headers)?;
    store
        .delete_session(&session.token_hash)
        .await
        .map_err(crate::error::store_unavailable)?;
    audit(store, &user.email, "logout", "ok", serde_json::json!({})).await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tenure_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn comparisons_and_cookies() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "ab"));
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "theme=dark; tenure_session=t0k; other=1".parse().unwrap(),
        );
        assert_eq!(super::cookie_token(&h).as_deref(), Some("t0k"));
        assert_eq!(super::cookie_token(&axum::http::HeaderMap::new()), None);
    }
}
