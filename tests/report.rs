//! The run report: a self-contained HTML file rendered in headless Chromium, and
//! a Chrome trace with one complete event per job attempt.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1300,900",
];

fn chromium(profile: &std::path::Path, extra: &[&str], page: &str) -> Output {
    let mut command = Command::new("chromium");
    command
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(page);
    run(command, Duration::from_secs(90), None)
}

#[test]
fn a_report_with_a_failure_and_a_retry_renders_in_a_browser() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("run.html");
    let trace = dir.path().join("run.json");
    let (html_arg, trace_arg) = (html.display().to_string(), trace.display().to_string());
    let output = mpirun(
        3,
        &[
            "--report",
            &html_arg,
            "--trace",
            &trace_arg,
            &script_arg("report.py"),
        ],
        120,
    );
    output
        .assert_status(1)
        .assert_stderr_has("8 jobs: 7 done, 1 failed");

    // The trace: one complete event per attempt (8 jobs + 1 retry) plus the chunks.
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let complete: Vec<&serde_json::Value> = parsed["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    let attempts = complete.iter().filter(|e| e["cat"] == "job").count();
    assert_eq!(attempts, 9, "{parsed}");
    assert!(complete.iter().any(|e| e["cat"] == "chunk"));
    assert!(complete
        .iter()
        .all(|e| e["dur"].is_u64() && e["ts"].is_u64()));

    // The page: rendered with no console errors, one lane per worker, the failed job shown.
    let page = format!("file://{html_arg}");
    let dom = chromium(&dir.path().join("profile-dom"), &["--dump-dom"], &page);
    assert_eq!(dom.status, 0, "{}", dom.stderr);
    let console_errors: Vec<&str> = dom
        .stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("Error") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    assert_eq!(
        dom.stdout.matches("class=\"lane\"").count(),
        2,
        "one lane per worker"
    );
    assert!(
        dom.stdout.contains("data-outcome=\"failed\""),
        "a failed bar is drawn"
    );
    assert!(
        dom.stdout.contains("bad (id 2), attempt 1"),
        "the failed job is listed"
    );
    assert!(dom.stdout.contains("this one always fails"));
    assert!(
        dom.stdout.contains("flaky (id 1), attempt 1"),
        "the failed first attempt of the retried job is listed"
    );

    // A screenshot for people, kept as a test artifact.
    let artifacts = repo().join("target").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(
        &dir.path().join("profile-shot"),
        &[&format!("--screenshot={}", screenshot.display())],
        &page,
    );
    assert!(
        std::fs::metadata(&screenshot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "screenshot written"
    );
}
