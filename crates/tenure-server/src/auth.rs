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
//! What a session may do then is decided in `authz`, by the user's role, book and
//! personal-data permission. Failed sign-ins are throttled per email and per client address
//! ([`LoginLimiter`]).

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tenure_store::{secret, Book, Session, Store, User};

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

/// Where a form sign-in goes next (a path under `/app`).
#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

#[derive(Serialize)]
pub struct Me {
    pub email: String,
    pub name: Option<String>,
    pub role: &'static str,
    pub book: Book,
    pub pii: bool,
    /// What the user may do (see `authz::Scope`).
    pub scopes: Vec<&'static str>,
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

/// How many failed sign-ins one client address may have for one email in [`LIMIT_WINDOW`]
/// before further attempts are refused without checking the password.
pub const EMAIL_FAILURES: usize = 5;
/// How many failed sign-ins one client address may have in [`LIMIT_WINDOW`], whatever the
/// emails.
pub const ADDRESS_FAILURES: usize = 30;
/// How many failed sign-ins one email may have in [`LIMIT_WINDOW`] from all addresses: a bound
/// on guessing spread over many addresses, high enough that locking someone out takes a
/// hundred audited attempts every quarter hour.
pub const ACCOUNT_FAILURES: usize = 100;
/// Password checks run at once (argon2id takes 19 MiB and tens of milliseconds each); more
/// wait their turn off the async workers.
const CHECKS_AT_ONCE: usize = 4;
pub const LIMIT_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// At most this many emails and addresses are tracked; past it the oldest are forgotten.
const TRACKED: usize = 100_000;

/// Failed sign-ins by email and by client address, in memory: guessing passwords is slowed to
/// a handful of tries per email (and a few dozen per address) every quarter hour.
pub struct LoginLimiter {
    failures: std::sync::Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>,
    checks: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            failures: Default::default(),
            checks: std::sync::Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
        }
    }
}

impl LoginLimiter {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<std::time::Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds until `keys` may try again, if any of them is over its limit at `now`.
    pub fn blocked(&self, keys: &[(String, usize)], now: std::time::Instant) -> Option<u64> {
        let mut map = self.lock();
        let mut wait = None;
        for (key, limit) in keys {
            if let Some(times) = map.get_mut(key) {
                times.retain(|t| now.duration_since(*t) < LIMIT_WINDOW);
                if times.len() >= *limit {
                    let oldest = times[times.len() - limit];
                    let secs = (LIMIT_WINDOW - now.duration_since(oldest)).as_secs().max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub fn failed(&self, keys: &[(String, usize)], now: std::time::Instant) {
        let mut map = self.lock();
        if map.len() >= TRACKED {
            map.retain(|_, times| {
                times.retain(|t| now.duration_since(*t) < LIMIT_WINDOW);
                !times.is_empty()
            });
            if map.len() >= TRACKED {
                // Forget the half whose last failure is oldest, never everything at once.
                let mut last: Vec<std::time::Instant> =
                    map.values().filter_map(|t| t.last().copied()).collect();
                let cut = last.len() / 2;
                let (_, median, _) = last.select_nth_unstable(cut);
                let median = *median;
                map.retain(|_, t| t.last().is_some_and(|l| *l > median));
            }
        }
        for (key, _) in keys {
            map.entry(key.clone()).or_default().push(now);
        }
    }

    /// A successful sign-in clears the email's failures (not the address's).
    pub fn succeeded(&self, email_key: &str) {
        self.lock().remove(email_key);
    }
}

/// The client's address for throttling: the last `X-Forwarded-For` hop — the address the
/// proxy itself saw, which it appended — when the peer is a proxy on this host or a private
/// network (loopback, 10/8, 172.16/12, 192.168/16, fc00::/7), else the peer itself. Earlier
/// hops are whatever the client sent, so a client cannot pick its own address.
pub fn client_address(peer: Option<&str>, forwarded: Option<&str>) -> String {
    let peer_ip = peer.and_then(|p| p.parse::<std::net::IpAddr>().ok());
    let trusted = match peer_ip {
        Some(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Some(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        // Without a peer (a test calling the router directly), only the header is known.
        None => true,
    };
    let hop = forwarded
        .and_then(|f| f.rsplit(',').next())
        .map(str::trim)
        .filter(|h| !h.is_empty());
    match (trusted, hop, peer) {
        (true, Some(h), _) => h.to_owned(),
        (_, _, Some(p)) => p.to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// Refuses a sign-in (form or JSON) sent from another site (login CSRF: signing a victim into
/// the attacker's account): a browser says where a request comes from in `Sec-Fetch-Site` and
/// `Origin`. Clients that are not browsers send neither.
fn check_same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    let cross = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
        .is_some_and(|o| {
            let authority = o.split_once("://").map_or(o, |(_, rest)| rest);
            Some(authority) != host
        });
    if cross || foreign_origin {
        return Err(error(
            StatusCode::FORBIDDEN,
            "cross_site_login",
            "sign in from this server's own /login page",
        ));
    }
    Ok(())
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
    crate::authz::audit(store, actor, action, None, outcome, detail).await
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

async fn login(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let answer = match check_same_site(&headers) {
        Ok(()) => sign_in(&state, &headers, peer.as_deref(), &body).await,
        Err(e) => Err(e),
    };
    if json {
        return match answer {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
    }
    // A browser's form: on success, on to the page it came for; otherwise the form again,
    // with what went wrong.
    let next = serde_urlencoded::from_bytes::<Next>(&body)
        .ok()
        .and_then(|n| n.next);
    let next = crate::web::safe_next(next.as_deref()).to_owned();
    match answer {
        Ok(r) if r.status().is_success() => {
            let mut redirect = axum::response::Redirect::to(&next).into_response();
            if let Some(cookie) = r.headers().get(header::SET_COOKIE) {
                redirect
                    .headers_mut()
                    .insert(header::SET_COOKIE, cookie.clone());
            }
            redirect
        }
        Ok(r) => {
            let status = r.status();
            let retry = r.headers().get(header::RETRY_AFTER).cloned();
            let mut page = crate::web::html(
                status,
                crate::web::login_form(
                    &next,
                    Some(&format!(
                        "Too many failed sign-ins; try again in {} s.",
                        retry
                            .as_ref()
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("a few")
                    )),
                ),
            );
            if let Some(v) = retry {
                page.headers_mut().insert(header::RETRY_AFTER, v);
            }
            page
        }
        Err(e) => crate::web::html(e.status, crate::web::login_form(&next, Some(&e.message))),
    }
}

async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
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
    let address = client_address(peer, forwarded.as_deref());
    let keys = [
        (format!("email:{email}|{address}"), EMAIL_FAILURES),
        (format!("address:{address}"), ADDRESS_FAILURES),
        (format!("email:{email}"), ACCOUNT_FAILURES),
    ];
    let clock = std::time::Instant::now();
    if let Some(wait) = state.limiter.blocked(&keys, clock) {
        audit(
            store,
            &email,
            "login",
            "throttled",
            serde_json::json!({"address": address, "forwarded_for": forwarded, "retry_after_s": wait}),
        )
        .await;
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            &format!("too many failed sign-ins; try again in {wait} s"),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(response);
    }
    // The same work whatever the case: a hash is always checked, off the async workers and
    // a few at a time.
    let hash = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str())
        .to_owned();
    let permit = Arc::clone(&state.limiter.checks)
        .acquire_owned()
        .await
        .map_err(|e| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &e.to_string(),
            )
        })?;
    let password = c.password;
    let matches = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        secret::password::verify(&password, &hash)
    })
    .await
    .map_err(|e| crate::api::internal(e.to_string()))?;
    let refused = match &user {
        None => Some("unknown email"),
        Some(_) if !matches => Some("wrong password"),
        Some(u) if u.disabled_at.is_some() => Some("disabled user"),
        Some(_) => None,
    };
    if let Some(reason) = refused {
        state.limiter.failed(&keys, clock);
        audit(
            store,
            &email,
            "login",
            "denied",
            serde_json::json!({"reason": reason, "address": address, "forwarded_for": forwarded}),
        )
        .await;
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "login_failed",
            "the email or the password is wrong",
        ));
    }
    let user = user.expect("refused when absent");
    state.limiter.succeeded(&keys[0].0);
    state.limiter.succeeded(&keys[2].0);
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
        serde_json::json!({"address": address, "forwarded_for": forwarded}),
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
        scopes: crate::authz::Scopes::of_user(user)
            .list()
            .into_iter()
            .map(crate::authz::Scope::name)
            .collect(),
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
    check_csrf_token(session, sent)
}

/// Refuses a token that is not the session's CSRF token (compared in constant time); a form
/// sends it in its `csrf` field, the API in `X-CSRF-Token`.
pub(crate) fn check_csrf_token(session: &Session, sent: &str) -> Result<(), ApiError> {
    if same(sent, &session.csrf_token) {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "csrf_token_missing",
            "send the session's CSRF token (GET /api/v1/me) in the X-CSRF-Token header, or a \
             form's `csrf` field",
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
        // The header counts only from a proxy nearby.
        let a = super::client_address;
        // A client's own header comes first; the proxy appends what it saw.
        assert_eq!(
            a(Some("127.0.0.1"), Some("1.2.3.4, 203.0.113.9")),
            "203.0.113.9"
        );
        assert_eq!(a(Some("10.1.2.3"), Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(a(Some("198.51.100.7"), Some("203.0.113.9")), "198.51.100.7");
        assert_eq!(a(Some("198.51.100.7"), None), "198.51.100.7");
        assert_eq!(a(None, None), "unknown");
        let mut h = axum::http::HeaderMap::new();
        h.insert("host", "tenure.example:8080".parse().unwrap());
        h.insert("origin", "https://tenure.example:8080".parse().unwrap());
        assert!(super::check_same_site(&h).is_ok());
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(super::check_same_site(&h).is_err());
        h.remove("origin");
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(super::check_same_site(&h).is_err());
    }
}
