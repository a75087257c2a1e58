//! Sending the outbox's emails: through an SMTP server when one is configured
//! (`smtp://HOST:PORT` in the clear, `smtp://…?tls=required` with STARTTLS,
//! `smtps://USER:PASSWORD@HOST:465` over TLS), else into a directory, one RFC 5322 `.eml`
//! file per message (the local sink: nothing leaves the machine, and every email can be read).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::outbox::{Failure, Message};

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        /// Where it sends, without credentials (for messages).
        server: String,
    },
    Files {
        dir: PathBuf,
        from: Mailbox,
    },
}

/// Why the mail settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("`{value}` is not a sender address (use `Name <name@example.com>` or `name@example.com`): {reason}")]
    From { value: String, reason: String },
    #[error("`{url}` is not an SMTP URL (use smtp://HOST:PORT, smtp://USER:PASSWORD@HOST:587?tls=required or smtps://USER:PASSWORD@HOST:465): {reason}")]
    Url { url: String, reason: String },
}

impl Mailer {
    /// The mailer for `smtp_url`, or the local sink in `dir` when there is none.
    pub fn new(smtp_url: Option<&str>, from: &str, dir: &Path) -> Result<Mailer, MailError> {
        let from: Mailbox = from.parse().map_err(|e| MailError::From {
            value: from.to_owned(),
            reason: format!("{e}"),
        })?;
        let Some(url) = smtp_url.filter(|u| !u.trim().is_empty()) else {
            return Ok(Mailer::Files {
                dir: dir.to_owned(),
                from,
            });
        };
        let shown = without_credentials(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Url {
                url: shown.clone(),
                reason: e.to_string(),
            })?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(Mailer::Smtp {
            transport,
            from,
            server: shown,
        })
    }

    /// Where the emails go, in words.
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { server, .. } => format!("SMTP server {server}"),
            Mailer::Files { dir, .. } => format!("files in {} (no SMTP server set)", dir.display()),
        }
    }

    /// Sends one email message of the outbox. A malformed recipient is a permanent failure;
    /// a server that cannot be reached or refuses for now is retried; an SMTP permanent
    /// (5xx) answer is permanent.
    pub async fn send(&self, m: &Message) -> Result<(), Failure> {
        let from = match self {
            Mailer::Smtp { from, .. } | Mailer::Files { from, .. } => from.clone(),
        };
        let email = build(m, from)?;
        match self {
            Mailer::Smtp { transport, .. } => match transport.send(email).await {
                Ok(_) => Ok(()),
                Err(e) => Err(Failure {
                    message: format!("{}: {e}", m.to),
                    permanent: e.is_permanent(),
                }),
            },
            Mailer::Files { dir, .. } => {
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(dir)?;
                    crate::durable::replace(&dir.join(file_name(&m.id)), &email.formatted())
                };
                write().map_err(|e| Failure::from(format!("{}: {e}", dir.display())))
            }
        }
    }
}

/// The email of an outbox message: plain UTF-8 text, with a Message-ID made from the
/// message's id (so a receiver can tell a retried email from a new one).
pub fn build(m: &Message, from: Mailbox) -> Result<lettre::Message, Failure> {
    let permanent = |message: String| Failure {
        message,
        permanent: true,
    };
    let to: Mailbox =
        m.to.parse()
            .map_err(|e| permanent(format!("`{}` is not an email address: {e}", m.to)))?;
    let domain = from.email.domain().to_owned();
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject.clone())
        .message_id(Some(format!(
            "<{}@{domain}>",
            file_name(&m.id).trim_end_matches(".eml")
        )))
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())
        .map_err(|e| permanent(format!("the email cannot be built: {e}")))
}

/// A file name for a message id: letters, digits, `-`, `_` and `.` kept, the rest `_`.
fn file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.eml")
}

/// `url` with any password replaced by `***`.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_part = &url[scheme + 3..at];
            let user = user_part.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Channel;

    fn email(to: &str) -> Message {
        Message {
            to: to.into(),
            subject: "Connect your data — in five minutes".into(),
            body: "Hello Ann,\n\nconnect your data.\n".into(),
            ..Message::new(
                "activation_rescue-acme-20261120-1-c/1".into(),
                Channel::Email,
                0,
            )
        }
    }

    #[tokio::test]
    async fn without_smtp_emails_are_files_a_bad_address_fails_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(None, "Tenure <cs@vendor.example>", dir.path()).unwrap();
        assert!(mailer.describe().starts_with("files in"));
        mailer.send(&email("Ann <ann@acme.example>")).await.unwrap();
        let path = dir.path().join("activation_rescue-acme-20261120-1-c_1.eml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("To: Ann <ann@acme.example>"), "{text}");
        assert!(text.contains("From: Tenure <cs@vendor.example>"), "{text}");
        assert!(
            text.contains("Message-ID: <activation_rescue-acme-20261120-1-c_1@vendor.example>"),
            "{text}"
        );
        // The non-ASCII subject is encoded as RFC 2047 words.
        assert!(
            text.contains("Subject: Connect your data =?utf-8?b?4oCU?= in five minutes"),
            "{text}"
        );
        assert!(text.contains("connect your data."), "{text}");
        let err = mailer.send(&email("not an address")).await.unwrap_err();
        assert!(
            err.permanent && err.message.contains("is not an email address"),
            "{err:?}"
        );
    }

    #[test]
    fn settings_are_checked_and_passwords_never_shown() {
        let dir = Path::new("/tmp");
        assert!(matches!(
            Mailer::new(None, "nobody", dir),
            Err(MailError::From { .. })
        ));
        let err = Mailer::new(Some("ftp://x"), "a@b.example", dir)
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not an SMTP URL"), "{err}");
        let m = Mailer::new(
            Some("smtps://ops:s3cret@mail.example:465"),
            "a@b.example",
            dir,
        )
        .unwrap();
        assert_eq!(m.describe(), "SMTP server smtps://ops:***@mail.example:465");
    }

    /// A minimal SMTP receiver: accepts every message (refusing recipients whose address
    /// starts with `nobody`) and hands each one's DATA over the channel.
    async fn smtp_receiver() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 receiver ESMTP\r\n").await.unwrap();
                    let mut data: Option<String> = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if let Some(d) = &mut data {
                            if line == "." {
                                let _ = tx.send(std::mem::take(d));
                                data = None;
                                write.write_all(b"250 queued\r\n").await.unwrap();
                            } else {
                                d.push_str(&line);
                                d.push('\n');
                            }
                            continue;
                        }
                        let upper = line.to_ascii_uppercase();
                        let answer: &[u8] = if upper.starts_with("EHLO") {
                            b"250-receiver\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("RCPT TO:<NOBODY") {
                            b"550 no such user\r\n"
                        } else if upper.starts_with("DATA") {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        } else if upper.starts_with("QUIT") {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        } else {
                            b"250 ok\r\n"
                        };
                        write.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn emails_go_through_an_smtp_server_and_refusals_are_told_apart() {
        let (port, mut received) = smtp_receiver().await;
        let mailer = Mailer::new(
            Some(&format!("smtp://127.0.0.1:{port}")),
            "Tenure <cs@vendor.example>",
            Path::new("/nonexistent"),
        )
        .unwrap();
        mailer.send(&email("Ann <ann@acme.example>")).await.unwrap();
        let data = received.recv().await.unwrap();
        assert!(data.contains("To: Ann <ann@acme.example>"), "{data}");
        assert!(data.contains("connect your data."), "{data}");
        // A recipient the server refuses for good (5xx): failed at once, not retried.
        let err = mailer
            .send(&email("nobody@acme.example"))
            .await
            .unwrap_err();
        assert!(err.permanent, "{err:?}");
        assert!(err.message.contains("nobody@acme.example"), "{err:?}");
        // A server that cannot be reached: retried.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let down = Mailer::new(
            Some(&format!("smtp://127.0.0.1:{port}")),
            "cs@vendor.example",
            Path::new("/nonexistent"),
        )
        .unwrap();
        let err = down.send(&email("ann@acme.example")).await.unwrap_err();
        assert!(!err.permanent, "{err:?}");
    }
}
