//! The HTTP client's bounds against a real (tiny) server on loopback:
//! body size, redirects, time, throttling and the private-address guard.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use trawler_sources::{HttpClient, HttpConfig, SourceError};

/// Serves canned responses by path until the test process ends.
fn serve() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = respond(stream);
            });
        }
    });
    Ok(port)
}

fn respond(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    match path.as_str() {
        "/ok" => stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")?,
        "/big" => {
            // No Content-Length: the client must stop reading at its cap.
            stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..64 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        "/big-declared" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\nConnection: close\r\n\r\nxx")?
        }
        "/loop" => stream
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        }
        "/throttled" => stream.write_all(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow",
        )?,
        _ => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
    }
    stream.flush()
}

fn client(allow_private: bool) -> Result<HttpClient, SourceError> {
    HttpClient::new(HttpConfig {
        timeout: Duration::from_millis(800),
        max_body_bytes: 1024 * 1024,
        max_redirects: 3,
        allow_private,
        ..HttpConfig::default()
    })
}

#[tokio::test]
async fn responses_are_bounded() -> anyhow::Result<()> {
    let port = serve()?;
    let http = client(true)?;
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");

    let ok = http.get(&url("/ok"), &[]).await?;
    assert_eq!((ok.status, ok.text().as_str()), (200, "hello"));

    assert_eq!(http.get(&url("/big"), &[]).await.err(), Some(SourceError::TooLarge { limit: 1024 * 1024 }));
    assert_eq!(http.get(&url("/big-declared"), &[]).await.err(), Some(SourceError::TooLarge { limit: 1024 * 1024 }));
    assert!(matches!(http.get(&url("/loop"), &[]).await, Err(SourceError::Redirect(_))));
    assert!(matches!(http.get(&url("/slow"), &[]).await, Err(SourceError::Timeout(_))));

    let throttled = http.get(&url("/throttled"), &[]).await?.error_for_status();
    match throttled {
        Err(SourceError::Throttled { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(7))),
        other => panic!("expected throttled, got {other:?}"),
    }
    let missing = http.get(&url("/nope"), &[]).await?.error_for_status();
    assert!(matches!(missing, Err(SourceError::HttpStatus { status: 404, .. })));
    Ok(())
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() -> anyhow::Result<()> {
    let port = serve()?;
    let guarded = client(false)?;
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
        "http://[::1]/ok".into(),
        "http://169.254.169.254/latest/meta-data".into(),
    ] {
        let err = guarded.get(&url, &[]).await.err();
        assert!(matches!(err, Some(SourceError::Blocked(_))), "{url}: {err:?}");
    }
    assert!(matches!(guarded.get("file:///etc/passwd", &[]).await, Err(SourceError::Config(_))));
    // The same request passes when the operator allows private targets.
    assert_eq!(client(true)?.get(&format!("http://localhost:{port}/ok"), &[]).await?.status, 200);
    Ok(())
}
