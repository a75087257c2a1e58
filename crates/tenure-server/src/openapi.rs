//! The REST API's index and its OpenAPI document. [`ENDPOINTS`] names every HTTP endpoint
//! with who may call it; `/api/openapi.json` serves `openapi.json`, written by hand beside this
//! file. Tests keep the three in step: every route the code mounts is in the index, every
//! JSON endpoint of the index is in the document (and nothing else is), and the role ×
//! endpoint matrix walks the index.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::authz::Scope;
use crate::AppState;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, metrics, the sign-in form, survey links, this document).
    Public,
    /// A write key (the ingestion API).
    WriteKey,
    /// A signed-in user, whatever their role.
    Session,
    /// Any principal: a signed-in user or an API or admin token.
    Authenticated,
    /// A principal with this scope.
    Scope(Scope),
}

/// One endpoint: method, path template (axum syntax), access, and whether it answers HTML
/// (the web app) rather than JSON (the API, in the OpenAPI document).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub html: bool,
}

const fn api(method: &'static str, path: &'static str, access: Access) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        html: false,
    }
}

const fn page(method: &'static str, path: &'static str, access: Access) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        html: true,
    }
}

use Access::{Public, Session, WriteKey};

/// Every endpoint the server mounts.
pub const ENDPOINTS: &[Endpoint] = &[
    api("GET", "/healthz", Public),
    api("GET", "/readyz", Public),
    api("GET", "/metrics", Public),
    api("GET", "/api/openapi.json", Public),
    api("POST", "/v1/{endpoint}", WriteKey),
    api("POST", "/login", Public),
    api("POST", "/logout", Session),
    api("GET", "/api/v1/me", Session),
    api(
        "GET",
        "/api/v1/data-quality",
        Access::Scope(Scope::DataQualityRead),
    ),
    api("GET", "/api/v1/audit", Access::Scope(Scope::AuditRead)),
    api(
        "GET",
        "/api/v1/accounts",
        Access::Scope(Scope::AccountsRead),
    ),
    api(
        "GET",
        "/api/v1/accounts/{id}",
        Access::Scope(Scope::AccountsRead),
    ),
    api(
        "GET",
        "/api/v1/accounts/{id}/health/history",
        Access::Scope(Scope::AccountsRead),
    ),
    api(
        "GET",
        "/api/v1/accounts/{id}/plan",
        Access::Scope(Scope::AccountsRead),
    ),
    api(
        "PUT",
        "/api/v1/accounts/{id}/plan",
        Access::Scope(Scope::PlansWrite),
    ),
    api(
        "GET",
        "/api/v1/coverage",
        Access::Scope(Scope::AccountsRead),
    ),
    api(
        "GET",
        "/api/v1/exports/accounts.csv",
        Access::Scope(Scope::AccountsRead),
    ),
    api(
        "GET",
        "/api/v1/metrics/{name}",
        Access::Scope(Scope::MetricsRead),
    ),
    api(
        "GET",
        "/api/v1/cohorts/{kind}",
        Access::Scope(Scope::MetricsRead),
    ),
    api("GET", "/api/v1/signals", Access::Scope(Scope::MetricsRead)),
    api("GET", "/api/v1/tasks", Access::Scope(Scope::TasksRead)),
    api("GET", "/api/v1/tasks/sla", Access::Scope(Scope::TasksRead)),
    api(
        "POST",
        "/api/v1/tasks/{id}/{action}",
        Access::Scope(Scope::TasksWrite),
    ),
    api(
        "POST",
        "/api/v1/surveys/responses",
        Access::Scope(Scope::SurveysWrite),
    ),
    api(
        "GET",
        "/api/v1/surveys/requests",
        Access::Scope(Scope::SurveysRead),
    ),
    page("GET", "/surveys/{token}", Public),
    page("POST", "/surveys/{token}", Public),
    page("GET", "/", Public),
    page("GET", "/login", Public),
    page("GET", "/app", Access::Authenticated),
    page("GET", "/app/style.css", Public),
    page("POST", "/app/logout", Session),
    page("GET", "/app/leader", Access::Scope(Scope::MetricsRead)),
    // And a book wider than the user's own accounts.
    page("GET", "/app/manager", Access::Scope(Scope::TasksRead)),
    page("GET", "/app/csm", Access::Scope(Scope::TasksRead)),
    page("GET", "/app/product", Access::Scope(Scope::MetricsRead)),
    page(
        "GET",
        "/app/accounts/{id}",
        Access::Scope(Scope::AccountsRead),
    ),
    // Forms carrying the session's CSRF token: signed-in users only.
    page(
        "POST",
        "/app/tasks/{id}/{action}",
        Access::Scope(Scope::TasksWrite),
    ),
    page(
        "POST",
        "/app/accounts/{id}/plan",
        Access::Scope(Scope::PlansWrite),
    ),
];

/// The OpenAPI 3.1 document of the JSON API.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(document))
}

async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `.route("PATH", get(..).post(..))` calls of the server's sources, as
    /// (METHOD, PATH): what the router mounts.
    fn mounted() -> BTreeSet<(String, String)> {
        let sources = [
            include_str!("lib.rs"),
            include_str!("health.rs"),
            include_str!("ingest.rs"),
            include_str!("api.rs"),
            include_str!("accounts.rs"),
            include_str!("metrics.rs"),
            include_str!("signals.rs"),
            include_str!("tasks.rs"),
            include_str!("surveys.rs"),
            include_str!("auth.rs"),
            include_str!("telemetry.rs"),
            include_str!("openapi.rs"),
            include_str!("web/mod.rs"),
        ];
        let mut out = BTreeSet::new();
        for src in sources {
            for part in src.split(".route(\"").skip(1) {
                let Some((path, rest)) = part.split_once('"').filter(|(p, _)| p.starts_with('/'))
                else {
                    continue;
                };
                // The handlers up to the call's closing parenthesis.
                let mut depth = 1;
                let mut end = rest.len();
                for (i, c) in rest.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let handlers = &rest[..end];
                for (m, name) in [("GET", "get("), ("POST", "post("), ("PUT", "put(")] {
                    let at_start = handlers
                        .trim_start_matches([',', ' ', '\n'])
                        .starts_with(name);
                    if at_start || handlers.contains(&format!(".{name}")) {
                        out.insert((m.to_owned(), path.to_owned()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_index_lists_every_mounted_route_and_nothing_else() {
        let index: BTreeSet<(String, String)> = ENDPOINTS
            .iter()
            .map(|e| (e.method.to_owned(), e.path.to_owned()))
            .collect();
        assert_eq!(index.len(), ENDPOINTS.len(), "an endpoint is listed twice");
        assert_eq!(mounted(), index);
    }

    #[test]
    fn the_openapi_document_covers_the_json_api_exactly() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                documented.insert((method.to_uppercase(), path.clone()));
                assert!(op["summary"].is_string(), "{method} {path} has no summary");
                assert!(
                    op["responses"].is_object(),
                    "{method} {path} has no responses"
                );
                // Path parameters are declared.
                for name in path.split('{').skip(1).filter_map(|p| p.split('}').next()) {
                    let declared = op["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| p["name"] == name && p["in"] == "path")
                    });
                    assert!(
                        declared,
                        "{method} {path}: `{name}` is not a declared parameter"
                    );
                }
            }
        }
        let api: BTreeSet<(String, String)> = ENDPOINTS
            .iter()
            .filter(|e| !e.html)
            .map(|e| (e.method.to_owned(), e.path.to_owned()))
            .collect();
        assert_eq!(documented, api);
        // Each scope the index asks for is the one the document states.
        for e in ENDPOINTS.iter().filter(|e| !e.html) {
            let op = &doc["paths"][e.path][e.method.to_lowercase()];
            match e.access {
                Access::Scope(s) => {
                    assert_eq!(op["x-tenure-scope"], s.name(), "{} {}", e.method, e.path)
                }
                _ => assert!(
                    op.get("x-tenure-scope").is_none(),
                    "{} {}",
                    e.method,
                    e.path
                ),
            }
        }
        // Every reference resolves.
        let text = DOCUMENT;
        for part in text.split("\"$ref\": \"#/components/").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let (group, name) = target.split_once('/').unwrap();
            assert!(
                doc["components"][group][name].is_object(),
                "unresolved reference {target}"
            );
        }
    }
}
