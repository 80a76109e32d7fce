//! The client against the fake SMTP server, over real TCP on 127.0.0.1.

use std::time::{Duration, Instant};

use talaka_core::Secret;
use talaka_mail::fake::{FakeSmtp, SmtpFault};
use talaka_mail::{Email, EmailAddress, MailError, Security, SmtpClient, SmtpSettings};

const WAIT: Duration = Duration::from_secs(5);

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("address")
}

fn settings(fake: &FakeSmtp) -> SmtpSettings {
    let mut s = SmtpSettings::new(
        "127.0.0.1",
        fake.port(),
        Security::Plain,
        addr("alerts@talaka.example"),
    );
    s.hello_name = "talaka.test".into();
    s.timeout = Duration::from_secs(5);
    s
}

fn client(fake: &FakeSmtp) -> SmtpClient {
    SmtpClient::new(settings(fake)).expect("client")
}

const BODY: &str = "Затрыманне: Ганна Л., 12:40, Кастрычніцкая пл.\n\
.Гэты радок пачынаецца з кропкі\n\
.\n\
Адвакат патрэбны.";

fn alert(subject: &str) -> Email {
    Email {
        to: addr("lawyer@example.by"),
        subject: subject.into(),
        body: BODY.into(),
        message_id: "alert-17.recipient-3.email@talaka".into(),
    }
}

#[tokio::test]
async fn a_message_arrives_with_envelope_headers_and_exact_body() {
    let fake = FakeSmtp::start().await.expect("fake");
    let subject = "Затрыманне ў Мінску — тэрмінова";
    client(&fake).send(&alert(subject)).await.expect("send");

    let got = fake.wait_for(1, WAIT).await.expect("message");
    let m = &got[0];
    assert_eq!(m.from, "alerts@talaka.example");
    assert_eq!(m.to, ["lawyer@example.by"]);
    assert_eq!(m.user, None);
    assert_eq!(m.header("From").as_deref(), Some("<alerts@talaka.example>"));
    assert_eq!(m.header("To").as_deref(), Some("<lawyer@example.by>"));
    assert_eq!(
        m.header("Message-ID").as_deref(),
        Some("<alert-17.recipient-3.email@talaka>")
    );
    assert_eq!(m.header("MIME-Version").as_deref(), Some("1.0"));
    assert_eq!(
        m.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let date = m.header("Date").expect("Date");
    assert!(date.ends_with(" +0000") && date.len() == 31, "{date}");

    // The subject travels as encoded-words and decodes back.
    let raw_subject = m.header("Subject").expect("Subject");
    assert!(raw_subject.starts_with("=?UTF-8?B?"), "{raw_subject}");
    assert_eq!(m.subject().as_deref(), Some(subject));

    // 7-bit, CRLF only, short lines; the body decodes to the text with CRLF line breaks,
    // including the lines that start with a dot.
    assert!(m.data.is_ascii());
    assert!(!m.data.replace("\r\n", "").contains(['\r', '\n']));
    assert!(m.data.split("\r\n").all(|l| l.len() <= 78));
    assert_eq!(
        m.body_text().as_deref(),
        Some(BODY.replace('\n', "\r\n").as_str())
    );
}

#[tokio::test]
async fn an_ascii_subject_is_sent_as_is() {
    let fake = FakeSmtp::start().await.expect("fake");
    client(&fake)
        .send(&alert("Detention alert"))
        .await
        .expect("send");
    let m = &fake.wait_for(1, WAIT).await.expect("message")[0];
    assert_eq!(m.header("Subject").as_deref(), Some("Detention alert"));
}

#[tokio::test]
async fn line_breaks_in_subject_or_message_id_are_refused_before_connecting() {
    let fake = FakeSmtp::start().await.expect("fake");
    let c = client(&fake);
    let mut bad_id = alert("ok");
    bad_id.message_id = "a@b>\r\nBcc: <spy@example.com".into();
    for email in [
        alert("Alert\r\nBcc: spy@example.com"),
        alert("Alert\nX: y"),
        bad_id,
    ] {
        let e = c.send(&email).await.expect_err("refused");
        assert!(matches!(e, MailError::Invalid(_)), "{e:?}");
        assert!(!e.is_transient());
    }
    assert_eq!(fake.connections(), 0);
}

#[tokio::test]
async fn a_451_is_transient_and_a_550_permanent() {
    let fake = FakeSmtp::start().await.expect("fake");
    let c = client(&fake);

    fake.fail_next(1, SmtpFault::Transient);
    let e = c.send(&alert("a")).await.expect_err("451");
    assert!(
        matches!(
            e,
            MailError::Rejected {
                code: 451,
                stage: "rcpt"
            }
        ),
        "{e:?}"
    );
    assert!(e.is_transient());

    fake.fail_next(1, SmtpFault::Permanent);
    let e = c.send(&alert("a")).await.expect_err("550");
    assert!(
        matches!(
            e,
            MailError::Rejected {
                code: 550,
                stage: "rcpt"
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_transient());
    // The error never carries the recipient.
    assert!(!format!("{e} {e:?}").contains("lawyer"));

    assert!(fake.received().is_empty());
    // The faults were for those sessions only: the retry goes through.
    c.send(&alert("a")).await.expect("send after the faults");
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn a_hanging_server_times_out_within_the_configured_timeout() {
    let fake = FakeSmtp::start().await.expect("fake");
    fake.fail_next(1, SmtpFault::Hang);
    let mut s = settings(&fake);
    s.timeout = Duration::from_millis(300);
    let c = SmtpClient::new(s).expect("client");
    let started = Instant::now();
    let e = c.send(&alert("a")).await.expect_err("timeout");
    let took = started.elapsed();
    assert!(matches!(e, MailError::Timeout), "{e:?}");
    assert!(e.is_transient());
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_transient() {
    let fake = FakeSmtp::start().await.expect("fake");
    fake.fail_next(1, SmtpFault::Drop);
    let e = client(&fake).send(&alert("a")).await.expect_err("drop");
    assert!(matches!(e, MailError::Protocol(_)), "{e:?}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = {
        let fake = FakeSmtp::start().await.expect("fake");
        fake.port()
    };
    // The fake is gone; nothing listens on its port any more.
    let mut s = SmtpSettings::new("127.0.0.1", port, Security::Plain, addr("a@talaka.example"));
    s.timeout = Duration::from_secs(5);
    let e = SmtpClient::new(s).expect("client").send(&alert("a")).await;
    let e = e.expect_err("refused");
    assert!(matches!(e, MailError::Connect(_)), "{e:?}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn an_old_server_gets_helo() {
    let fake = FakeSmtp::start().await.expect("fake");
    fake.fail_next(1, SmtpFault::NoEhlo);
    client(&fake)
        .send(&alert("a"))
        .await
        .expect("send with HELO");
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn auth_plain_sends_the_configured_credentials() {
    let fake = FakeSmtp::start().await.expect("fake");
    fake.require_credentials("alerts", "пароль correct horse");
    let mut s = settings(&fake);
    s.username = Some("alerts".into());
    s.password = Some(Secret::new("пароль correct horse".into()));
    SmtpClient::new(s.clone())
        .expect("client")
        .send(&alert("a"))
        .await
        .expect("send");
    assert_eq!(
        fake.logins(),
        [("alerts".to_owned(), "пароль correct horse".to_owned())]
    );
    assert_eq!(fake.received()[0].user.as_deref(), Some("alerts"));

    // A wrong password is a permanent failure, and the error does not show it.
    s.password = Some(Secret::new("wrong-password".into()));
    let e = SmtpClient::new(s)
        .expect("client")
        .send(&alert("a"))
        .await
        .expect_err("535");
    assert!(
        matches!(
            e,
            MailError::Rejected {
                code: 535,
                stage: "auth"
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_transient());
    assert!(!format!("{e} {e:?}").contains("wrong-password"));
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn no_login_when_the_server_requires_one_is_rejected() {
    let fake = FakeSmtp::start().await.expect("fake");
    fake.require_credentials("alerts", "pw");
    let e = client(&fake).send(&alert("a")).await.expect_err("530");
    assert!(
        matches!(
            e,
            MailError::Rejected {
                code: 530,
                stage: "mail"
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_password_over_plain_text_goes_only_to_localhost() {
    let mut s = SmtpSettings::new(
        "mail.example.by",
        25,
        Security::Plain,
        addr("alerts@talaka.example"),
    );
    s.username = Some("alerts".into());
    s.password = Some(Secret::new("hunter2".into()));
    let e = SmtpClient::new(s.clone()).expect_err("refused");
    assert!(matches!(e, MailError::Config(_)), "{e:?}");
    assert!(!e.is_transient());

    for host in ["localhost", "127.0.0.1", "::1"] {
        s.host = host.into();
        assert!(SmtpClient::new(s.clone()).is_ok(), "{host}");
    }
    s.host = "mail.example.by".into();
    for security in [Security::StartTls, Security::Tls] {
        s.security = security;
        assert!(SmtpClient::new(s.clone()).is_ok(), "{security:?}");
    }
}

#[test]
fn debug_of_the_settings_hides_the_password_and_addresses() {
    let mut s = SmtpSettings::new(
        "mail.example.by",
        587,
        Security::StartTls,
        addr("alerts@talaka.example"),
    );
    s.username = Some("alerts-account".into());
    s.password = Some(Secret::new("hunter2-smtp-password".into()));
    let client = SmtpClient::new(s.clone()).expect("client");
    let shown = format!("{s:?} {s:#?} {client:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("alerts@"), "{shown}");
    assert!(!shown.contains("alerts-account"), "{shown}");
    assert!(shown.contains("mail.example.by"), "{shown}");
}

#[tokio::test]
async fn starttls_is_never_skipped_when_the_server_does_not_offer_it() {
    let fake = FakeSmtp::start().await.expect("fake");
    let mut s = settings(&fake);
    s.security = Security::StartTls;
    let e = SmtpClient::new(s)
        .expect("client")
        .send(&alert("a"))
        .await
        .expect_err("no STARTTLS offered");
    assert!(matches!(e, MailError::Tls(_)), "{e:?}");
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn implicit_tls_to_a_plain_server_fails_without_sending() {
    let fake = FakeSmtp::start().await.expect("fake");
    let mut s = settings(&fake);
    s.security = Security::Tls;
    let e = SmtpClient::new(s)
        .expect("client")
        .send(&alert("a"))
        .await
        .expect_err("not TLS");
    assert!(matches!(e, MailError::Tls(_)), "{e:?}");
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn a_non_ascii_address_uses_smtputf8() {
    let fake = FakeSmtp::start().await.expect("fake");
    let mut email = alert("a");
    email.to = addr("юрыст@прыклад.бел");
    client(&fake).send(&email).await.expect("send");
    let m = &fake.wait_for(1, WAIT).await.expect("message")[0];
    assert_eq!(m.to, ["юрыст@прыклад.бел"]);
    assert_eq!(m.header("To").as_deref(), Some("<юрыст@прыклад.бел>"));
}
