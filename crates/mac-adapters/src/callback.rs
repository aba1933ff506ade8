//! The loopback callback server of Codex's browser login: it listens on `127.0.0.1:<port>`
//! (1455 by default, as OpenAI registered the redirect URI; 0 in tests), answers the browser's
//! redirect to `/auth/callback?code=…&state=…`, and hands the code to the waiting login — or its
//! failure: a wrong `state` (CSRF), an `error` from the provider, a `/cancel`, or the timeout.
//! Other paths (a browser's `/favicon.ico`) get a 404 and the wait goes on. The same rules read
//! a redirect URL the user pastes when no browser can reach this machine
//! ([`code_from_redirect_url`]).
//!
//! HTTP is hyper's (HTTP/1.1 only, already in the graph through reqwest): each connection is
//! served on its own task, so a browser's idle pre-connection does not hold up the real
//! redirect; every answer closes its connection (keep-alive off), as a browser kept on a
//! pooled connection would otherwise pin a finished login's server. A request head must
//! arrive within 10 s and fit in 8 KiB. A login outcome is handed over only once its page was
//! written, so the browser sees it before the server goes away.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mac_storage::Secret;
use snafu::Snafu;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

/// The callback path of the redirect URI.
pub const CALLBACK_PATH: &str = "/auth/callback";

/// The largest request head read from the browser.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// How long one connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the callback produced no code.
#[derive(Debug, Snafu)]
pub enum CallbackError {
    /// The port could not be bound (another login running, or another program on it).
    #[snafu(display(
        "cannot listen on 127.0.0.1:{port} for the login callback: {source} \
         (is another login running? use the manual login, or set `callback_port`)"
    ))]
    Bind {
        /// The port asked for.
        port: u16,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The user opened `/cancel`.
    #[snafu(display("authentication cancelled by user"))]
    Cancelled,
    /// The provider redirected with an `error`.
    #[snafu(display("the provider refused the login: {message}"))]
    Denied {
        /// `error_description`, else `error`.
        message: String,
    },
    /// The redirect carried no `code`.
    #[snafu(display("missing authorization code in the callback"))]
    MissingCode,
    /// The `state` was not the one this login sent: possibly forged.
    #[snafu(display("OAuth state mismatch: the callback does not belong to this login"))]
    StateMismatch,
    /// No callback arrived in time.
    #[snafu(display("no login callback within {after:?}"))]
    TimedOut {
        /// The wait.
        after: Duration,
    },
    /// The pasted text is not a URL.
    #[snafu(display(
        "the pasted text is not the redirect URL (it should start with http://localhost)"
    ))]
    NotAUrl,
    /// Accepting a connection failed.
    #[snafu(display("the login callback server failed: {source}"))]
    Accept {
        /// The operating-system error.
        source: std::io::Error,
    },
}

/// What the callback delivered.
#[derive(Debug)]
pub struct CallbackCode {
    /// The authorization code, to be exchanged once.
    pub code: Secret,
}

/// A bound callback listener.
#[derive(Debug)]
pub struct CallbackServer {
    listener: TcpListener,
    port: u16,
}

impl CallbackServer {
    /// Listens on `127.0.0.1:port` (`0` picks a free port).
    pub async fn bind(port: u16) -> Result<Self, CallbackError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| CallbackError::Bind { port, source })?;
        let port =
            listener.local_addr().map_err(|source| CallbackError::Bind { port, source })?.port();
        Ok(Self { listener, port })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI that leads the browser here: `http://localhost:<port>/auth/callback`.
    pub fn redirect_uri(&self) -> Url {
        let text = format!("http://localhost:{}{CALLBACK_PATH}", self.port);
        Url::parse(&text).unwrap_or_else(|err| unreachable!("{text}: {err}"))
    }

    /// Serves callbacks until one settles the login or `timeout` passes; the listener and any
    /// connection still open close when this returns.
    pub async fn wait(
        self,
        expected_state: &str,
        timeout: Duration,
    ) -> Result<CallbackCode, CallbackError> {
        let expected: Arc<str> = Arc::from(expected_state);
        let (settled, mut outcomes) = mpsc::channel(4);
        let mut connections = JoinSet::new();
        let serve = async {
            loop {
                tokio::select! {
                    accepted = self.listener.accept() => {
                        let (stream, _) =
                            accepted.map_err(|source| CallbackError::Accept { source })?;
                        connections.spawn(serve_connection(
                            stream,
                            Arc::clone(&expected),
                            settled.clone(),
                        ));
                    }
                    Some(outcome) = outcomes.recv() => return outcome,
                }
            }
        };
        match tokio::time::timeout(timeout, serve).await {
            Ok(outcome) => outcome,
            Err(_) => Err(CallbackError::TimedOut { after: timeout }),
        }
    }
}

/// A login outcome of one connection, set while answering and sent once the answer is out.
type Outcome = Result<CallbackCode, CallbackError>;

/// Serves one connection (one request: keep-alive is off); its login outcome, if any, goes to
/// `settled` after the page was written.
async fn serve_connection(stream: TcpStream, expected: Arc<str>, settled: mpsc::Sender<Outcome>) {
    let slot: Arc<Mutex<Option<Outcome>>> = Arc::default();
    let service = {
        let slot = Arc::clone(&slot);
        service_fn(move |request: Request<Incoming>| {
            let (response, outcome) = answer(&request, &expected);
            if let Some(outcome) = outcome {
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
            }
            std::future::ready(Ok::<_, Infallible>(response))
        })
    };
    // A browser that goes away early or sends garbage ends only its own connection (hyper
    // answers a request it cannot parse with 400 itself).
    let _ = http1::Builder::new()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    let outcome = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(outcome) = outcome {
        // The wait may have ended (timeout); then nobody needs the outcome.
        let _ = settled.send(outcome).await;
    }
}

/// Reads a manually pasted redirect URL (`http://localhost:1455/auth/callback?code=…&state=…`)
/// with the same rules as the server.
pub fn code_from_redirect_url(
    pasted: &str,
    expected_state: &str,
) -> Result<CallbackCode, CallbackError> {
    let url = Url::parse(pasted.trim()).map_err(|_| CallbackError::NotAUrl)?;
    settle(&url, expected_state)
}

/// What a callback URL's query means for the login.
fn settle(url: &Url, expected_state: &str) -> Result<CallbackCode, CallbackError> {
    let get = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    if let Some(error) = get("error") {
        let message = get("error_description").filter(|d| !d.is_empty()).unwrap_or(error);
        return Err(CallbackError::Denied { message: message.chars().take(200).collect() });
    }
    let Some(code) = get("code").filter(|c| !c.is_empty()) else {
        return Err(CallbackError::MissingCode);
    };
    if get("state").as_deref() != Some(expected_state) {
        return Err(CallbackError::StateMismatch);
    }
    Ok(CallbackCode { code: Secret::new(code) })
}

/// The answer to one request, and its login outcome: `None` when it is not one (another path,
/// another method); the wait goes on.
fn answer(
    request: &Request<Incoming>,
    expected_state: &str,
) -> (Response<Full<Bytes>>, Option<Outcome>) {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (respond(StatusCode::BAD_REQUEST, TEXT, "Bad Request".into()), None);
    }
    let target = request.uri().path_and_query().map_or("/", |target| target.as_str());
    let Ok(url) = Url::parse(&format!("http://localhost{target}")) else {
        return (respond(StatusCode::BAD_REQUEST, TEXT, "Bad Request".into()), None);
    };
    match url.path() {
        CALLBACK_PATH => {
            let outcome = settle(&url, expected_state);
            let response = match &outcome {
                Ok(_) => respond(
                    StatusCode::OK,
                    HTML,
                    page(
                        "Authentication Complete",
                        "You can close this window and return to the terminal.",
                    ),
                ),
                Err(err) => respond(
                    StatusCode::BAD_REQUEST,
                    HTML,
                    page("Authentication Failed", &err.to_string()),
                ),
            };
            (response, Some(outcome))
        }
        "/cancel" => (
            respond(
                StatusCode::OK,
                HTML,
                page("Authentication Cancelled", "The login was cancelled."),
            ),
            Some(Err(CallbackError::Cancelled)),
        ),
        _ => (respond(StatusCode::NOT_FOUND, TEXT, "Not Found".into()), None),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn page(title: &str, message: &str) -> String {
    let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body><h1>{0}</h1><p>{1}</p></body></html>",
        escape(title),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn pasted_redirects_follow_the_server_rules() {
        let ok =
            code_from_redirect_url("http://localhost:1455/auth/callback?code=abc&state=s1", "s1")
                .unwrap();
        assert_eq!(ok.code.expose(), "abc");
        let wrong =
            code_from_redirect_url("http://localhost:1455/auth/callback?code=abc&state=evil", "s1");
        assert!(matches!(wrong, Err(CallbackError::StateMismatch)));
        let denied = code_from_redirect_url(
            "http://localhost:1455/auth/callback?error=access_denied&error_description=User+said+no",
            "s1",
        );
        assert_eq!(denied.unwrap_err().to_string(), "the provider refused the login: User said no");
        assert!(matches!(
            code_from_redirect_url("http://x/?state=s1", "s1"),
            Err(CallbackError::MissingCode)
        ));
        assert!(matches!(code_from_redirect_url("abc", "s1"), Err(CallbackError::NotAUrl)));
    }

    /// A browser: sends `GET target` to the server and returns the status code.
    async fn browse(port: u16, target: &str) -> u16 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response.split(' ').nth(1).unwrap().parse().unwrap()
    }

    async fn serve_then(
        targets: &[&str],
        state: &str,
    ) -> (Vec<u16>, Result<CallbackCode, CallbackError>) {
        let server = CallbackServer::bind(0).await.unwrap();
        let port = server.port();
        assert_eq!(
            server.redirect_uri().as_str(),
            format!("http://localhost:{port}/auth/callback")
        );
        let state = state.to_owned();
        let waiting =
            tokio::spawn(async move { server.wait(&state, Duration::from_secs(10)).await });
        let mut statuses = Vec::new();
        for target in targets {
            statuses.push(browse(port, target).await);
        }
        (statuses, waiting.await.unwrap())
    }

    #[tokio::test]
    async fn a_browser_delivers_the_code_after_unrelated_requests() {
        let (statuses, outcome) =
            serve_then(&["/favicon.ico", "/auth/callback?code=the-code&state=s1"], "s1").await;
        assert_eq!(statuses, [404, 200]);
        assert_eq!(outcome.unwrap().code.expose(), "the-code");
    }

    /// Browsers open spare connections ahead of time and may send nothing on them; the
    /// redirect on another connection must not wait behind one (one connection at a time
    /// would have read the idle one until its 10 s read timeout, past this 5 s wait).
    #[tokio::test]
    async fn an_idle_connection_does_not_hold_up_the_redirect() {
        let server = CallbackServer::bind(0).await.unwrap();
        let port = server.port();
        let waiting = tokio::spawn(async move { server.wait("s1", Duration::from_secs(5)).await });
        let _idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(browse(port, "/auth/callback?code=c&state=s1").await, 200);
        assert_eq!(waiting.await.unwrap().unwrap().code.expose(), "c");
    }

    #[tokio::test]
    async fn other_methods_are_refused_and_keep_the_wait() {
        let server = CallbackServer::bind(0).await.unwrap();
        let port = server.port();
        let waiting = tokio::spawn(async move { server.wait("s1", Duration::from_secs(5)).await });
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request =
            "POST /auth/callback?code=c&state=s1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert_eq!(browse(port, "/auth/callback?code=d&state=s1").await, 200);
        assert_eq!(waiting.await.unwrap().unwrap().code.expose(), "d");
    }

    #[tokio::test]
    async fn a_forged_state_an_error_or_a_cancel_end_the_login() {
        let (statuses, outcome) = serve_then(&["/auth/callback?code=c&state=forged"], "s1").await;
        assert_eq!(statuses, [400]);
        assert!(matches!(outcome, Err(CallbackError::StateMismatch)));
        let (_, outcome) = serve_then(&["/auth/callback?error=access_denied"], "s1").await;
        assert!(matches!(outcome, Err(CallbackError::Denied { .. })));
        let (statuses, outcome) = serve_then(&["/cancel"], "s1").await;
        assert_eq!(statuses, [200]);
        assert!(matches!(outcome, Err(CallbackError::Cancelled)));
    }

    #[tokio::test]
    async fn garbage_requests_are_refused_and_the_wait_times_out() {
        let server = CallbackServer::bind(0).await.unwrap();
        let port = server.port();
        let waiting =
            tokio::spawn(async move { server.wait("s", Duration::from_millis(300)).await });
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(b"\xff\xfe not http\r\n\r\n").await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(matches!(waiting.await.unwrap(), Err(CallbackError::TimedOut { .. })));
    }

    #[tokio::test]
    async fn a_taken_port_is_a_clear_error() {
        let first = CallbackServer::bind(0).await.unwrap();
        let err = CallbackServer::bind(first.port()).await.unwrap_err();
        assert!(err.to_string().contains(&format!("127.0.0.1:{}", first.port())), "{err}");
    }

    #[test]
    fn pages_escape_html() {
        assert!(page("a<b", "x&y").contains("a&lt;b") && page("a", "x&y").contains("x&amp;y"));
    }
}
