//! map and mapreduce: equal to plain Python, errors naming the element.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn map_and_mapreduce_match_plain_python() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("words.txt");
    let words = ["alpha", "beta", "gamma", "delta", "vesper", "mpi", "rank"];
    let body: String = (0..20_000)
        .map(|i| {
            format!(
                "{} {} {}\n",
                words[i % 7],
                words[(i * 3) % 7],
                words[(i / 7) % 7]
            )
        })
        .collect();
    std::fs::write(&text, body).unwrap();
    for ranks in [2, 4] {
        let mut command = mpirun_command(ranks, &[&script_arg("mapreduce.py")]);
        command.env("VESPER_TEST_TEXT", &text);
        let output = run(command, Duration::from_secs(240), None);
        output.assert_status(0);
        for line in ["map", "reducers", "wordcount 7", "errors"] {
            output.assert_stdout_has(&format!("OK {line}"));
        }
    }
}
