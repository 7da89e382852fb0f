//! Finds out whether the explainer's Python programs can run here (python3 with `requests` and
//! `aiohttp`), and tells the tests: where they cannot, the tests that run the programs are
//! marked ignored, with what to install, instead of failing or passing without running.
//!
//! CI sets `ABREAST_REQUIRE_PYTHON=1` after installing the modules, so a failed install stops the
//! build instead of quietly ignoring those tests. After installing the modules by hand, set it
//! too (or change this file) so that this check runs again.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(explainer_python)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ABREAST_REQUIRE_PYTHON");
    println!("cargo::rerun-if-env-changed=ABREAST_PYTHON");
    let python = std::env::var("ABREAST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&python)
        .args(["-c", "import requests, aiohttp"])
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        println!("cargo::rustc-cfg=explainer_python");
    } else if std::env::var("ABREAST_REQUIRE_PYTHON").is_ok_and(|value| value == "1") {
        panic!(
            "ABREAST_REQUIRE_PYTHON=1, but {python} cannot import requests and aiohttp: \
             run `{python} -m pip install requests aiohttp`"
        );
    }
}
