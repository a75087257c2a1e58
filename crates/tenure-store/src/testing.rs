//! Throw-away PostgreSQL databases for tests: each test creates its own database on the server
//! named by `TENURE_TEST_POSTGRES_URL` and drops it afterwards, so runs never see each other's
//! data. Used by this crate's conformance suite and by other crates' integration tests.

use sqlx::{Connection, Executor, PgConnection};

/// The environment variable naming a PostgreSQL server for tests, as an admin URL
/// (`postgres://postgres:postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL_VAR: &str = "TENURE_TEST_POSTGRES_URL";

/// When set to 1, a missing `TENURE_TEST_POSTGRES_URL` fails the tests instead of skipping the
/// PostgreSQL suite (CI sets it, so the suite can never be skipped silently there).
pub const REQUIRE_POSTGRES_VAR: &str = "TENURE_REQUIRE_POSTGRES";

/// The admin URL for tests, or `None` when the PostgreSQL suite is to be skipped.
///
/// # Panics
/// When `TENURE_REQUIRE_POSTGRES=1` and no URL is set: that run must not pass quietly.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var(REQUIRE_POSTGRES_VAR).as_deref() == Ok("1") {
                panic!("{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
            }
            None
        }
    }
}

/// A database created for one test and dropped when this value is dropped.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn with_database(url: &str, database: &str) -> String {
    // Replace the path of the URL (everything after the host part), keeping any query string.
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDatabase {
    /// Creates a fresh, uniquely named database on the server at `admin_url`.
    pub async fn create(admin_url: &str) -> Result<TestDatabase, sqlx::Error> {
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let name = format!(
            "tenure_test_{}_{}",
            std::process::id(),
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut conn = PgConnection::connect(admin_url).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        conn.close().await?;
        Ok(TestDatabase {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// The URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping runs outside any async context (possibly while a test unwinds), so it uses a
        // runtime of its own on a thread of its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(std::io::Error::other)?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "t1"),
            "postgres://u:p@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432", "t1"),
            "postgres://u:p@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "t1"),
            "postgres://h/t1?sslmode=disable"
        );
    }
}
