//! Bakes the Python interpreter the binary is built against into the binary, so the
//! embedded CPython finds its own standard library (see `py::interpreter`), and sets
//! the rpath to libpython so no `LD_LIBRARY_PATH` is needed at run time.
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
    let config = pyo3_build_config::get();
    #[allow(deprecated)]
    let executable = config.executable.clone().unwrap_or_default();
    println!("cargo:rustc-env=VESPER_BUILD_PYTHON={executable}");
    // Tests create virtual environments with the same interpreter.
    println!(
        "cargo:rustc-env=VESPER_TEST_PYTHON={}",
        if executable.is_empty() {
            "python3"
        } else {
            &executable
        }
    );
    println!("cargo:rerun-if-changed=python/vesper");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
