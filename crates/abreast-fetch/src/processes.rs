//! TEMPORARY: the processes driver arrives with the process pool.
use crate::hosts::HostLimits;
use crate::pipeline::FetchConfig;
use crate::record::Record;
use std::sync::Arc;
pub(crate) fn drive(
    _config: &FetchConfig,
    _jobs: Box<dyn Iterator<Item = (u64, crate::input::Target)> + Send>,
    _sender: &flume::Sender<(u64, Record)>,
    _limits: Arc<HostLimits>,
) -> Result<(), String> {
    Err("not yet".into())
}
