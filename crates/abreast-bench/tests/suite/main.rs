//! The integration tests of abreast-bench: one binary with a module per topic. `report` holds the
//! snapshot tests of every exporter and of the chart (`UPDATE_SNAPSHOTS=1` rewrites the
//! snapshots); `python` runs the explainer's programs for real; `suites` runs tiny suites.

mod python;
mod report;
mod suites;
