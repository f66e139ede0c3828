//! The small HTTP/1.1 server faultline answers with: `faultline serve`
//! (the run store) and `--metrics-listen` (a run's live metrics). GET
//! only, one request per connection, request headers read and ignored;
//! what each path answers is the caller's. Not a general web server.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What one request is answered with.
pub struct Response {
    /// Status line after the version (`200 OK`).
    pub status: &'static str,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// `200 OK` with `body`.
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: "200 OK",
            content_type,
            body,
        }
    }

    /// `404 Not Found`.
    pub fn not_found() -> Response {
        Response {
            status: "404 Not Found",
            content_type: "text/plain",
            body: b"not found\n".to_vec(),
        }
    }
}

/// Answers every connection `listener` accepts with `answer(path)` (the
/// request target without its query), each on its own task, until the
/// listener fails or the future is dropped.
pub async fn serve<A>(listener: TcpListener, answer: A) -> std::io::Result<()>
where
    A: Fn(&str) -> Response + Clone + Send + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let answer = answer.clone();
        tokio::spawn(async move {
            if let Err(e) = respond(stream, answer).await {
                tracing::debug!("request failed: {e}");
            }
        });
    }
}

async fn respond(mut stream: TcpStream, answer: impl Fn(&str) -> Response) -> std::io::Result<()> {
    let mut line = String::new();
    let mut reader = BufReader::new(&mut stream);
    reader.read_line(&mut line).await?;
    // Headers are not needed; drain them so the client is not reset.
    let mut header = String::new();
    while reader.read_line(&mut header).await? > 2 {
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let response = if method == "GET" {
        answer(target.split('?').next().unwrap_or("/"))
    } else {
        Response {
            status: "405 Method Not Allowed",
            content_type: "text/plain",
            body: b"GET only\n".to_vec(),
        }
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response.body).await?;
    stream.shutdown().await
}
