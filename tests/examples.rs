//! Every example the README shows runs and prints what it promises.

mod common;
use common::*;

#[test]
fn the_pipeline_example_counts_every_word() {
    let _serial = serial();
    let script = repo().join("examples/pipeline.py").display().to_string();
    let output = mpirun(4, &[&script, "6"], 180);
    output
        .assert_status(0)
        .assert_stdout_has("240000 words, 13 distinct")
        .assert_stdout_has("parts counted: 6");
    output.assert_stderr_has("8 jobs: 8 done, 0 failed");
}

#[test]
fn the_pipeline_resumes_and_skips_on_a_persistent_root() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let script = repo().join("examples/pipeline.py").display().to_string();
    mpirun(3, &["--dfs-root", &root, &script, "4"], 180).assert_status(0);
    mpirun(3, &["--dfs-root", &root, &script, "4"], 180)
        .assert_status(0)
        .assert_stdout_has("240000 words")
        .assert_stderr_has("6 jobs: 0 done, 0 failed, 0 cancelled, 6 skipped");
}
