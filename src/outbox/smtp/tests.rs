//! The transaction's commands on the wire, against scripted servers: what
//! Postfix cannot show (whether commands came ahead of their replies).

use super::*;
use lettre::Address;

#[test]
fn pipelining_is_read_from_the_ehlo_keywords_only() {
    let ehlo = ["mail.example", "PIPELINING", "SIZE 10240000", "8BITMIME"];
    assert!(offers_pipelining(ehlo.into_iter()));
    assert!(offers_pipelining(["x", "pipelining"].into_iter()));
    // A greeting that merely mentions the word offers nothing.
    assert!(!offers_pipelining(
        ["mail.example says no PIPELINING here", "8BITMIME"].into_iter()
    ));
    assert!(!offers_pipelining(["X-PIPELINING", "SIZE"].into_iter()));
}

#[test]
fn a_pipeline_is_mail_every_rcpt_and_data_in_order() {
    let a: Address = "a@example.org".parse().expect("address");
    let b: Address = "b@example.net".parse().expect("address");
    let from: Address = "cert@example.com".parse().expect("address");
    let p = Pipeline {
        mail: Mail::new(Some(from), Vec::new()),
        rcpts: vec![Rcpt::new(a, Vec::new()), Rcpt::new(b, Vec::new())],
    };
    assert_eq!(
        p.to_string(),
        "MAIL FROM:<cert@example.com>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    );
}

/// What a scripted server saw of one transaction.
struct Seen {
    commands: Vec<String>,
    /// A command came before the reply to the one before it.
    ahead: bool,
    body: String,
}

/// One session of a scripted SMTP server: it offers PIPELINING or
/// not, refuses the first RCPT with 550 and takes the rest. Offering
/// it, it answers nothing before DATA has come, so a client that waits
/// for each reply never gets there; not offering it, it answers each
/// command at once and notes one that came ahead of its reply.
async fn scripted_session(listener: tokio::net::TcpListener, pipelining: bool) -> Seen {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (sock, _) = listener.accept().await.expect("accept");
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    let ehlo: &[u8] = if pipelining {
        b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    } else {
        b"250-scripted\r\n250 8BITMIME\r\n"
    };
    w.write_all(b"220 scripted ESMTP\r\n").await.expect("write");
    let mut seen = Seen {
        commands: Vec::new(),
        ahead: false,
        body: String::new(),
    };
    let mut held = Vec::new();
    let mut rcpts = 0;
    loop {
        line.clear();
        if r.read_line(&mut line).await.expect("read") == 0 {
            return seen;
        }
        let command = line.trim_end().to_string();
        if !r.buffer().is_empty() && !command.starts_with("EHLO") {
            seen.ahead = true;
        }
        let reply: &[u8] = match command.split(':').next().unwrap_or_default() {
            c if c.starts_with("EHLO") => ehlo,
            "MAIL FROM" => b"250 2.1.0 Ok\r\n",
            "RCPT TO" => {
                rcpts += 1;
                if rcpts == 1 {
                    b"550 5.1.1 No such user\r\n"
                } else {
                    b"250 2.1.5 Ok\r\n"
                }
            }
            "DATA" => b"354 End data with <CR><LF>.<CR><LF>\r\n",
            "QUIT" => b"221 Bye\r\n",
            _ => b"502 5.5.2 Error: command not recognized\r\n",
        };
        if !command.starts_with("EHLO") {
            seen.commands.push(command.clone());
        }
        held.extend_from_slice(reply);
        if !pipelining || command.starts_with("EHLO") || command == "DATA" {
            w.write_all(&held).await.expect("write");
            held.clear();
        }
        if command == "DATA" {
            loop {
                line.clear();
                if r.read_line(&mut line).await.expect("read") == 0 || line == ".\r\n" {
                    break;
                }
                seen.body.push_str(&line);
            }
            w.write_all(b"250 2.0.0 Ok: queued\r\n")
                .await
                .expect("write");
            return seen;
        }
    }
}

/// Sends one message to two recipients through a scripted session;
/// returns what the server saw and whether the session pipelines.
async fn send_to_scripted(pipelining: bool) -> (Seen, bool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(scripted_session(listener, pipelining));
    let direct = Direct {
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        implicit: None,
        credentials: None,
        connect_timeout: Duration::from_secs(5),
        idle_close: Duration::from_secs(60),
        idle: Mutex::new(Vec::new()),
    };
    let envelope = Envelope::new(
        Some("cert@example.com".parse().expect("address")),
        vec![
            "gone@example.org".parse().expect("address"),
            "here@example.net".parse().expect("address"),
        ],
    )
    .expect("envelope");
    let mut session = None;
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        direct.send(&mut session, &envelope, b"Subject: t\r\n\r\nhello\r\n"),
    )
    .await
    .expect("the transaction did not finish: the server waited for DATA")
    .expect("sent");
    // The first recipient is refused, the other has it.
    assert_eq!(
        refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0],
        "{refused:?}"
    );
    let pipelined = session.as_ref().is_some_and(|s| s.pipelining);
    let seen = server.await.expect("server");
    assert_eq!(
        seen.commands,
        [
            "MAIL FROM:<cert@example.com>",
            "RCPT TO:<gone@example.org>",
            "RCPT TO:<here@example.net>",
            "DATA"
        ]
    );
    assert!(seen.body.contains("hello"), "{}", seen.body);
    (seen, pipelined)
}

#[tokio::test]
async fn a_server_that_offers_pipelining_gets_the_commands_in_one_flight() {
    let (seen, pipelined) = send_to_scripted(true).await;
    assert!(pipelined);
    assert!(seen.ahead, "commands came one reply at a time");
}

#[tokio::test]
async fn a_server_that_does_not_offer_pipelining_gets_one_command_at_a_time() {
    let (seen, pipelined) = send_to_scripted(false).await;
    assert!(!pipelined);
    assert!(!seen.ahead, "a command came ahead of the reply before it");
}
