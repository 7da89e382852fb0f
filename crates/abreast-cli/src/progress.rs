//! Progress bars: one function makes every bar, and hides it when stderr is not a terminal,
//! so redirected output and CI logs stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar (with `total`) or a spinner (without) on stderr, hidden unless stderr is a terminal.
pub fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{wide_bar}] {pos}/{len} {per_sec} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {prefix} {pos} {per_sec} {elapsed} {msg}")
                .expect("a valid template"),
        ),
    };
    bar.set_prefix(what.to_owned());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(100));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}
