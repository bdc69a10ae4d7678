//! `seq2seq serve` end to end: the binary started on a free port with the shipped translation
//! model, spoken to over plain HTTP/1.1 as LibreTranslate's clients do; answers equal to
//! `infer --split-sentences`, concurrent requests batched without changing them, every error
//! with its status and LibreTranslate's shape, and a clean stop on SIGTERM.

use crate::common::stderr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn model() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/multi30k-en-de")
        .display()
        .to_string()
}

/// The server and its port (read from its "listening on" line).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
            .args([
                "serve",
                "--model",
                &format!("en-de={}", model()),
                "--port",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            if let Some(at) = line.strip_prefix("serve: listening on http://") {
                break at.rsplit(':').next().unwrap().parse().unwrap();
            }
        };
        // Keep reading stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, port }
    }

    /// One request; the status and the body.
    fn request(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let (status, text) = self.request(
            "POST",
            path,
            "application/json",
            body.to_string().as_bytes(),
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// `infer --split-sentences` on `lines`, one output per line.
fn infer(lines: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
        .args(["infer", "--model", &model(), "--split-sentences"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = lines.join("\n") + "\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

const SENTENCES: [&str; 8] = [
    "A man is riding a bicycle. Two dogs are playing in the snow.",
    "A little girl in a pink dress is climbing stairs.",
    "Three people sit on a bench near the water.",
    "A woman sings on a stage while a man plays the guitar.",
    "",
    "Children play soccer in a park.",
    "A black dog runs through the grass with a ball in its mouth.",
    "Two men are working on a roof.",
];

#[test]
fn libretranslate_requests_are_answered_as_infer_answers_them() {
    let expected = infer(&SENTENCES);
    let server = Server::start(&["--body-limit", "4000"]);
    // One string, a list, a form: LibreTranslate's three shapes.
    let (status, one) = server.json(
        "/translate",
        serde_json::json!({"q": SENTENCES[0], "source": "en", "target": "de"}),
    );
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["translatedText"], serde_json::json!(expected[0]));
    let (status, list) = server.json(
        "/translate",
        serde_json::json!({"q": SENTENCES, "source": "auto", "target": "de", "format": "text"}),
    );
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["translatedText"], serde_json::json!(expected));
    assert_eq!(list["detectedLanguage"]["language"], "en");
    let form = format!("q={}&source=en&target=de", SENTENCES[1].replace(' ', "+"));
    let (status, text) = server.request(
        "POST",
        "/translate",
        "application/x-www-form-urlencoded",
        form.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    let form: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(form["translatedText"], serde_json::json!(expected[1]));

    // Sixteen clients at once, each its own sentence: batched together, answers unchanged.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let server = &server;
                let expected = &expected;
                scope.spawn(move || {
                    let k = i % SENTENCES.len();
                    let (status, answer) = server.json(
                        "/translate",
                        serde_json::json!({"q": SENTENCES[k], "source": "en", "target": "de"}),
                    );
                    assert_eq!(status, 200, "{answer}");
                    assert_eq!(answer["translatedText"], serde_json::json!(expected[k]));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });

    let (status, languages) = server.request("GET", "/languages", "text/plain", b"");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&languages).unwrap(),
        serde_json::json!([{"code": "en", "name": "English", "targets": ["de"]}])
    );
    let (status, _) = server.request("GET", "/health", "text/plain", b"");
    assert_eq!(status, 200);

    // Errors: status and {"error": ...} naming the problem.
    for (body, needle) in [
        (
            r#"{"q": "A man.", "source": "en""#.to_string(),
            "Invalid JSON",
        ),
        (
            r#"{"q": 3, "source": "en", "target": "de"}"#.into(),
            "q must be a string",
        ),
        (
            r#"{"q": "A man.", "source": "en"}"#.into(),
            "missing target",
        ),
        (
            r#"{"q": "A man.", "source": "en", "target": "fr"}"#.into(),
            "fr is not supported",
        ),
        (
            r#"{"q": "A man.", "source": "cs", "target": "de"}"#.into(),
            "cs is not supported",
        ),
        (
            r#"{"q": "A man.", "source": "en", "target": "de", "format": "html"}"#.into(),
            "not supported",
        ),
        (
            format!(
                r#"{{"q": "{}", "source": "en", "target": "de"}}"#,
                "a ".repeat(200)
            ),
            "longer than the model's maximum",
        ),
    ] {
        let (status, text) =
            server.request("POST", "/translate", "application/json", body.as_bytes());
        assert_eq!(status, 400, "{body}: {text}");
        let error: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = error["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let big = format!(
        r#"{{"q": "{}", "source": "en", "target": "de"}}"#,
        "x".repeat(5000)
    );
    let (status, _) = server.request("POST", "/translate", "application/json", big.as_bytes());
    assert_eq!(status, 413);
    // The server still answers after all that.
    let (status, _) = server.json(
        "/translate",
        serde_json::json!({"q": "A dog.", "source": "en", "target": "de"}),
    );
    assert_eq!(status, 200);
}

#[test]
fn sigterm_stops_the_server_cleanly_and_bad_models_are_refused() {
    let mut server = Server::start(&[]);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    for (spec, needle) in [
        ("g2p=artifacts/g2p", "SRC-TGT"),
        ("artifacts/g2p", "NAME=DIR"),
        ("en-de=/nonexistent/model", "cannot load model en-de"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_seq2seq"))
            .args(["serve", "--port", "0", "--model", spec])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{spec}");
        assert!(stderr(&out).contains(needle), "{spec}: {}", stderr(&out));
    }
}

/// A Python that imports `module`, or `None` (saying so) outside CI; in CI a missing client is
/// a failure, not a skip (.ci/run installs it).
fn python_with(module: &str) -> Option<String> {
    let python = std::env::var("SEQ2SEQ_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    let why = format!("{python} cannot import {module} (pip install {module}, as .ci/run does)");
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// LibreTranslate's own Python client (PyPI `libretranslatepy`, written by LibreTranslate's
/// authors, not here) pointed at the server: its translate() and languages() work unchanged.
#[test]
fn the_libretranslatepy_client_works_unchanged() {
    let Some(python) = python_with("libretranslatepy") else {
        return;
    };
    let expected = infer(&SENTENCES[..2]);
    let server = Server::start(&[]);
    let script = format!(
        r#"
import json
from libretranslatepy import LibreTranslateAPI
lt = LibreTranslateAPI("http://127.0.0.1:{port}")
print(json.dumps({{
    "texts": [lt.translate(q, "en", "de") for q in {sentences}],
    "languages": lt.languages(),
}}))
"#,
        port = server.port,
        sentences = serde_json::json!(SENTENCES[..2]),
    );
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["texts"], serde_json::json!(expected));
    assert_eq!(got["languages"][0]["code"], "en");
    assert_eq!(got["languages"][0]["targets"], serde_json::json!(["de"]));
}
