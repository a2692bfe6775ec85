//! UserView: shared between the script and jobs, atomic, limited, persistent.

mod common;
use common::*;

#[test]
fn the_userview_contract_holds() {
    let _serial = serial();
    let output = mpirun(
        4,
        &["--uv-value-limit", "1MiB", &script_arg("userview.py")],
        240,
    );
    output.assert_status(0);
    for line in [
        "seed example",
        "incr 8000",
        "cas 800",
        "wait",
        "mapping",
        "errors",
    ] {
        output.assert_stdout_has(&format!("OK {line}"));
    }
}

#[test]
fn views_persist_across_runs_on_a_persistent_root() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dfs").display().to_string();
    let first = write_script(
        dir.path(),
        "first.py",
        "import vesper\nv = vesper.UserView('state')\nv['runs'] = 1\nv['obj'] = {'a': [1]}\n",
    );
    let second = write_script(dir.path(), "second.py", "import vesper\nv = vesper.UserView('state')\nprint('restored', v.incr('runs'), v['obj'])\n");
    mpirun(2, &["--dfs-root", &root, &first], 60).assert_status(0);
    mpirun(2, &["--dfs-root", &root, &second], 60)
        .assert_status(0)
        .assert_stdout_has("restored 2 {'a': [1]}");
}
