//! The web app: server-rendered HTML pages under `/app`, one stylesheet of our own, no script
//! and nothing fetched from elsewhere, so it works offline and behind any proxy. Every page
//! asks `authz` for the signed-in principal and reads accounts, tasks and people only through
//! it, as the REST API does: the same books, the same masking.
//!
//! Pages: `/login`; `/app` (the signed-in user's home, by role); `/app/leader`,
//! `/app/manager`, `/app/csm`, `/app/product`; `/app/accounts/{id}` (account 360, with the
//! success plan form posting to `/app/accounts/{id}/plan`); the inbox's buttons posting to
//! `/app/tasks/{id}/{action}`; `/app/logout`.

mod account;
pub mod svg;
mod views;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::fmt::Write;
use tenure_domain::model::Role;

use crate::authz::{Principal, Scope};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/app") }))
        .route("/login", get(login_page))
        .route("/app", get(home))
        .route("/app/style.css", get(style))
        .route("/app/logout", post(logout))
        .route("/app/leader", get(views::leader))
        .route("/app/manager", get(views::manager))
        .route("/app/csm", get(views::csm))
        .route("/app/product", get(views::product))
        .route("/app/accounts/{id}", get(account::show))
        .route("/app/accounts/{id}/plan", post(account::save_plan))
        .route("/app/tasks/{id}/{action}", post(views::task_action))
}

const STYLE: &str = include_str!("style.css");

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// Text made safe for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment made safe for a URL.
pub fn url_part(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The views a principal may open, for the navigation: (path, label).
pub fn views_for(p: &Principal) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    if p.can(Scope::MetricsRead) && p.can(Scope::AccountsRead) {
        v.push(("/app/leader", "Leadership"));
    }
    if p.can(Scope::TasksRead) && p.can(Scope::AccountsRead) && p.book != tenure_store::Book::Own {
        v.push(("/app/manager", "Team"));
    }
    if p.can(Scope::TasksRead) && p.can(Scope::AccountsRead) {
        v.push(("/app/csm", "My book"));
    }
    if p.can(Scope::MetricsRead) {
        v.push(("/app/product", "Product"));
    }
    v
}

/// A whole page: the shell with navigation, `title` and `body`.
pub fn page(p: &Principal, active: &str, title: &str, body: &str) -> String {
    let mut nav = String::new();
    for (path, label) in views_for(p) {
        let current = if path == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<li><a href=\"{path}\"{current}>{label}</a></li>");
    }
    let csrf = p
        .session
        .as_ref()
        .map(|s| esc(&s.csrf_token))
        .unwrap_or_default();
    let logout = if p.session.is_some() {
        format!(
            "<form method=\"post\" action=\"/app/logout\" class=\"logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Sign out</button></form>"
        )
    } else {
        String::new()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Tenure</title><link rel=\"stylesheet\" href=\"/app/style.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><nav aria-label=\"Views\"><a class=\"brand\" href=\"/app\">Tenure</a><ul>{nav}</ul></nav>\
         <div class=\"who\"><span data-testid=\"who\">{who}</span> <span class=\"role\">{role}</span>{logout}</div></header>\
         <main id=\"main\"><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title),
        who = esc(&p.actor),
        role = esc(p.role_name()),
    )
}

/// An HTML response.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A page saying what went wrong (a 4xx or 5xx), in the shell when signed in.
pub fn error_page(p: Option<&Principal>, e: &ApiError) -> Response {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/app\">Back</a></p>",
        esc(&e.message)
    );
    let title = match e.status {
        StatusCode::FORBIDDEN => "Not permitted",
        StatusCode::NOT_FOUND => "Not found",
        s if s.is_client_error() => "Cannot do that",
        _ => "Something failed",
    };
    let doc = match p {
        Some(p) => page(p, "", title, &body),
        None => bare_page(title, &body),
    };
    html(e.status, doc)
}

fn bare_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Tenure</title><link rel=\"stylesheet\" href=\"/app/style.css\"></head>\
         <body><main id=\"main\" class=\"narrow\"><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

/// Where a page goes when nobody is signed in: the sign-in form, then back.
fn to_login(path: &str) -> Response {
    Redirect::to(&format!("/login?next={}", url_part(path))).into_response()
}

/// The signed-in principal of a page request that needs `scopes`; otherwise the response to
/// send (the sign-in form, or a 403 page).
pub async fn guard(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    scopes: &[Scope],
) -> Result<Principal, Response> {
    let p = match crate::authz::principal(state.store.as_ref(), &Method::GET, headers).await {
        Ok(p) => p,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return Err(to_login(path)),
        Err(e) => return Err(error_page(None, &e)),
    };
    for s in scopes {
        if let Err(e) = crate::authz::require(&p, *s) {
            return Err(error_page(Some(&p), &e));
        }
    }
    Ok(p)
}

/// Refuses a form post whose `csrf` field is not the session's token.
pub fn check_form_csrf(p: &Principal, sent: Option<&str>) -> Result<(), ApiError> {
    let Some(session) = &p.session else {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "not_signed_in",
            message: "forms are for signed-in users".into(),
        });
    };
    crate::auth::check_csrf_token(session, sent.unwrap_or(""))
}

/// A role's home view.
pub fn home_of(p: &Principal) -> &'static str {
    match p.role {
        Some(Role::Csm) => "/app/csm",
        Some(Role::Manager) => "/app/manager",
        Some(Role::Product) => "/app/product",
        _ => views_for(p).first().map_or("/app/csm", |v| v.0),
    }
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match guard(&state, &headers, "/app", &[]).await {
        Ok(p) => {
            let views = views_for(&p);
            let target = home_of(&p);
            if views.iter().any(|v| v.0 == target) {
                Redirect::to(target).into_response()
            } else {
                html(
                    StatusCode::OK,
                    page(
                        &p,
                        "",
                        "Nothing to show",
                        "<p>Your role opens none of the views. Ask an admin for more.</p>",
                    ),
                )
            }
        }
        Err(r) => r,
    }
}

/// Only same-site paths under `/app` are followed after signing in.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/app") && !n.starts_with("//") && !n.contains("://") => n,
        _ => "/app",
    }
}

/// The sign-in form.
pub fn login_form(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    bare_page(
        "Sign in",
        &format!(
            "{error}<form method=\"post\" action=\"/login\" class=\"login\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            next = esc(next)
        ),
    )
}

async fn login_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let next = safe_next(q.get("next").map(String::as_str));
    html(StatusCode::OK, login_form(next, None))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    let p = match guard(&state, &headers, "/app", &[]).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(e) = check_form_csrf(&p, form.get("csrf").map(String::as_str)) {
        return error_page(Some(&p), &e);
    }
    if let Some(s) = &p.session {
        if let Err(e) = state.store.delete_session(&s.token_hash).await {
            return error_page(Some(&p), &crate::error::store_unavailable(e));
        }
    }
    crate::authz::audit(
        state.store.as_ref(),
        &p.actor,
        "logout",
        None,
        "ok",
        serde_json::json!({}),
    )
    .await;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "tenure_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    r
}

/// A number with thousands separators.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("−{out}")
    } else {
        out
    }
}

/// Money in a compact form: 1.2M, 340k, 900.
pub fn money(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else {
        thousands(v)
    };
    s.replace('-', "−")
}

/// A share as a percentage with one decimal, or a dash.
pub fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_formatting() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_part("acme co/1"), "acme%20co%2F1");
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(-999.0), "−999");
        assert_eq!(money(1_260_000.0), "1.3M");
        assert_eq!(money(45_000.0), "45k");
        assert_eq!(pct(Some(0.1234)), "12.3 %");
        assert_eq!(safe_next(Some("//evil.example")), "/app");
        assert_eq!(safe_next(Some("https://evil.example/app")), "/app");
        assert_eq!(safe_next(Some("/app/accounts/a")), "/app/accounts/a");
    }
}
