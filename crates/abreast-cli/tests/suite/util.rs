//! Running the `abreast` binary under test and checking its output.

use std::process::{Command, Output};

/// The `abreast` binary cargo built for these tests.
pub fn abreast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_abreast"))
}

/// Runs `command`, expects exit status `code`, and returns stdout as text.
pub fn run_expecting(command: &mut Command, code: i32) -> (String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the abreast binary runs");
    let (stdout, stderr) = (
        String::from_utf8(stdout).expect("stdout is UTF-8"),
        String::from_utf8(stderr).expect("stderr is UTF-8"),
    );
    assert_eq!(
        status.code(),
        Some(code),
        "unexpected exit status\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Waits for `condition` (the time limit only catches a hang).
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 90 s for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}
