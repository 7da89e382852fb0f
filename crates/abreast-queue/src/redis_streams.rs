//! [`RedisQueue`]: the [`Queue`] on Redis Streams with consumer groups (Redis 6.2 or later).
//!
//! Keys, per job `NAME` (the braces keep a job's keys together):
//!
//! | key | type | what |
//! |---|---|---|
//! | `abreast:jobs` | set | the job names |
//! | `abreast:{NAME}:meta` | hash | settings (JSON), lease, max deliveries, lines per entry, the submission's progress and input digest, the counters, the collector's open batch |
//! | `abreast:{NAME}:lines` | stream, group `workers` | one entry per [`LINES_PER_ENTRY`] input lines: `n` (the first one's number), `l` (their lengths), `u` (the lines one after the other) |
//! | `abreast:{NAME}:results` | stream, group `collector` | one entry per batch a worker completed: `n` its lines, `l` their results' lengths, `r` the results (the records' JSON) one after the other |
//! | `abreast:{NAME}:done`, `:collected` | bitmaps | lines with a result; lines written by the collector |
//! | `abreast:{NAME}:collector` | string | the collector's claim (expires) |
//! | `abreast:{NAME}:host:HOST` | sorted set | per-host permits, scored by expiry |
//! | `abreast:{NAME}:rate:HOST` | string | the next allowed request start to HOST |
//! | `abreast:{NAME}:robots` | hash | each host's robots.txt (by origin), as the worker that fetched it stored it |
//! | `abreast:{NAME}:robots-claim:ORIGIN` | string | the worker fetching ORIGIN's robots.txt (expires) |
//! | `abreast:workers`, `abreast:workers:seen` | hashes | each worker's last report, and when |
//!
//! Each batch of lines a submitter adds is announced on the pub/sub channel `abreast:new-lines`
//! (the message: the job's name), so an idle worker starts on it at once
//! ([`RedisQueue::watch_new_lines`]); only a hint, since workers also look for work on a timer.
//!
//! A lease is a pending entry of the `workers` group. Every step that must not be split (append
//! a result and ack its lease; lease with delivery counts; take a permit) is one Lua script, so
//! a process killed between two commands leaves nothing half-done. Connections are
//! `ConnectionManager`s: they reconnect by themselves after the broker restarts, and each call
//! that failed meanwhile reports [`QueueError::Unreachable`] for the caller to retry.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use xxhash_rust::xxh3::Xxh3;

use crate::names::BrokerUrl;
use crate::{
    Completion, JobInfo, JobName, JobSpec, JobStatus, Lease, Leased, OpenBatch, Queue, QueueError,
    ResultBatch, ResultEntry, RobotsEntry, Submitted, WorkerBeat,
};

/// Lines added per round trip when submitting.
const SUBMIT_BATCH: usize = 512;
/// Lines per entry of a job's lines stream at most, unless [`RedisQueue::with_lines_per_entry`]
/// says otherwise. The broker's cost is mostly per entry (added, leased, acked, deleted), so
/// lines travel several to an entry; a worker leases whole entries.
pub const LINES_PER_ENTRY: usize = 16;
/// Entries a submitted batch of lines is cut into, at least (while they hold a line each): a
/// small job is spread over as many entries as it has lines, up to this many, so that its
/// lines still go to several workers.
const ENTRIES_PER_BATCH: usize = 32;
/// Entries pending that a status looks at to count the lines in flight, at most.
const STATUS_PENDING_MAX: u64 = 10_000;
/// Results one entry of the results stream holds at most (a worker's batch is split past it),
/// so a collector's read of `max` results asks for `max / RESULTS_PER_ENTRY` entries.
const RESULTS_PER_ENTRY: usize = 256;
/// The idle time a handed-back lease is given: any later lease call takes it at once, and
/// knows it from a lease that ran out (idle for about the lease).
const HANDED_BACK_IDLE_MS: u64 = 10 * 365 * 24 * 3600 * 1000;
/// Entries idle this long were handed back.
const HANDED_BACK_AT_LEAST_MS: u64 = HANDED_BACK_IDLE_MS / 2;
/// Workers silent for longer than this are dropped from the list.
const FORGET_WORKER_MS: u64 = 3600 * 1000;

/// A job on Redis Streams. Cheap to clone; clones share their connections.
#[derive(Clone)]
pub struct RedisQueue {
    url: BrokerUrl,
    /// Opens the connection of [`RedisQueue::watch_new_lines`].
    client: redis::Client,
    /// Every short command.
    control: ConnectionManager,
    /// Blocking reads of the results, kept apart so they never hold up other commands.
    blocking: ConnectionManager,
    scripts: std::sync::Arc<Scripts>,
    /// Lines per entry of the jobs this queue submits.
    per_entry: usize,
    /// Jobs whose results handed to this collector before were all read again: from then on
    /// only new results are read (this collector acks each batch before it reads the next).
    drained: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<JobName>>>,
}

/// How often a watch of new lines pings the broker, by default: a connection that died without
/// a word (a cut network, a load balancer's idle timeout) is found out, and one that lives is
/// kept from looking idle.
const WATCH_PING: Duration = Duration::from_secs(30);

/// How long the broker has to answer a watch's ping.
const WATCH_PING_WAIT: Duration = Duration::from_secs(5);

/// The announcements of new lines ([`RedisQueue::watch_new_lines`]).
pub struct NewLines {
    sink: redis::aio::PubSubSink,
    messages: redis::aio::PubSubStream,
    ping_every: Duration,
    next_ping: tokio::time::Instant,
}

impl NewLines {
    /// Pings the broker every `every` (30 s by default) while waiting for announcements.
    pub fn ping_every(mut self, every: Duration) -> NewLines {
        self.ping_every = every;
        self.next_ping = Self::after(every);
        self
    }

    /// `every` from now, or as far as the clock goes.
    fn after(every: Duration) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        now.checked_add(every)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
    }

    /// Waits for the next batch of new lines, in any job: the job's name; `None` once the
    /// connection is lost (the broker restarted, or left a ping unanswered for 5 s): watch
    /// again. A message that is not a job's name (another program's, on the same channel) is
    /// passed over. Cancelled, it loses no announcement; but a ping in flight is sent again by
    /// the next call, so a caller that keeps cancelling it within 5 s never hears of a dead
    /// connection.
    pub async fn next(&mut self) -> Option<JobName> {
        loop {
            tokio::select! {
                message = futures::StreamExt::next(&mut self.messages) => {
                    let job = message?
                        .get_payload::<String>()
                        .ok()
                        .and_then(|name| JobName::new(&name).ok());
                    if job.is_some() {
                        return job;
                    }
                }
                () = tokio::time::sleep_until(self.next_ping) => {
                    let ping = self.sink.ping::<Value>();
                    if !matches!(tokio::time::timeout(WATCH_PING_WAIT, ping).await, Ok(Ok(_))) {
                        return None;
                    }
                    self.next_ping = Self::after(self.ping_every);
                }
            }
        }
    }
}

impl std::fmt::Debug for NewLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLines").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

struct Scripts {
    create: Script,
    add_lines: Script,
    seal: Script,
    begin_batch: Script,
    lease: Script,
    complete: Script,
    in_flight: Script,
    extend: Script,
    hand_back: Script,
    ack_results: Script,
    claim: Script,
    release: Script,
    acquire_host: Script,
    reserve_start: Script,
    heartbeat: Script,
    robots: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            create: Script::new(CREATE),
            add_lines: Script::new(ADD_LINES),
            seal: Script::new(SEAL),
            begin_batch: Script::new(BEGIN_BATCH),
            lease: Script::new(&format!("{BITS}{LEASE}")),
            complete: Script::new(&format!("{BITS}{COMPLETE}")),
            in_flight: Script::new(&format!("{BITS}{IN_FLIGHT}")),
            extend: Script::new(EXTEND),
            hand_back: Script::new(HAND_BACK),
            ack_results: Script::new(&format!("{BITS}{ACK_RESULTS}")),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
            acquire_host: Script::new(ACQUIRE_HOST),
            reserve_start: Script::new(RESERVE_START),
            heartbeat: Script::new(HEARTBEAT),
            robots: Script::new(ROBOTS),
        }
    }
}

/// The keys of one job.
struct Keys {
    meta: String,
    lines: String,
    results: String,
    done: String,
    collected: String,
    collector: String,
    prefix: String,
}

impl Keys {
    fn of(job: &JobName) -> Keys {
        let prefix = format!("abreast:{{{job}}}");
        Keys {
            meta: format!("{prefix}:meta"),
            lines: format!("{prefix}:lines"),
            results: format!("{prefix}:results"),
            done: format!("{prefix}:done"),
            collected: format!("{prefix}:collected"),
            collector: format!("{prefix}:collector"),
            prefix,
        }
    }

    fn host(&self, host: &str) -> String {
        format!("{}:host:{host}", self.prefix)
    }

    fn rate(&self, host: &str) -> String {
        format!("{}:rate:{host}", self.prefix)
    }

    fn robots(&self) -> String {
        format!("{}:robots", self.prefix)
    }

    fn robots_claim(&self, origin: &str) -> String {
        format!("{}:robots-claim:{origin}", self.prefix)
    }
}

const JOBS: &str = "abreast:jobs";
/// The pub/sub channel on which each batch of new lines is announced (the job's name): a broker
/// user needs the right to it (`&abreast:new-lines` in its ACL) for [`RedisQueue::watch_new_lines`].
pub const NEW_LINES_CHANNEL: &str = "abreast:new-lines";
const WORKERS: &str = "abreast:workers";
const WORKERS_SEEN: &str = "abreast:workers:seen";

/// Creates a job unless it exists. KEYS: meta, lines, results, jobs. ARGV: settings, lease_ms,
/// max_deliveries, name, lines per entry.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'settings', ARGV[1], 'lease_ms', ARGV[2], 'max_deliveries', ARGV[3],
  'submitted', 0, 'prefix', '', 'sealed', 0, 'done', 0, 'collected', 0, 'redelivered', 0,
  'gave_up', 0, 'foreign', 0, 'per_entry', ARGV[5])
redis.pcall('XGROUP', 'CREATE', KEYS[2], 'workers', '0', 'MKSTREAM')
redis.pcall('XGROUP', 'CREATE', KEYS[3], 'collector', '0', 'MKSTREAM')
redis.call('SADD', KEYS[4], ARGV[4])
return 1
";

/// Adds lines after the `ARGV[1]` already there, in entries of several lines each, and announces
/// them on the channel `ARGV[3]` with the job's name. KEYS: meta, lines, the collector claim.
/// ARGV: expected count, digest of the input up to the last new line, the channel, the job's
/// name, the digest of the input's first line (kept with the first lines), the submitter's
/// collector claim, then three per entry: its line count, the lines' lengths (joined by commas),
/// the lines one after the other. -2: another run holds the collector claim (only the run
/// collecting a job adds to it); -1: the job has another count (another submitter added lines).
const ADD_LINES: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOJOB the job was deleted') end
local collector = redis.call('GET', KEYS[3])
if collector and collector ~= ARGV[6] then return -2 end
local have = tonumber(redis.call('HGET', KEYS[1], 'submitted'))
if have ~= tonumber(ARGV[1]) then return -1 end
if have == 0 then redis.call('HSET', KEYS[1], 'first', ARGV[5]) end
local now = have
for i = 7, #ARGV, 3 do
  redis.call('XADD', KEYS[2], '*', 'n', string.format('%d', now), 'l', ARGV[i + 1], 'u', ARGV[i + 2])
  now = now + tonumber(ARGV[i])
end
redis.call('HSET', KEYS[1], 'submitted', now, 'prefix', ARGV[2])
-- Only a hint: a broker that refuses it (an ACL without channels) still gets the lines.
redis.pcall('PUBLISH', ARGV[3], ARGV[4])
return now
";

/// Seals a job: all its lines are on it. KEYS: meta, the collector claim. ARGV: the lines the
/// submitter added up to, its collector claim, the digest of all the lines. -1: another
/// submitter added lines meanwhile; -2: another run holds the collector claim.
const SEAL: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOJOB the job was deleted') end
local collector = redis.call('GET', KEYS[2])
if collector and collector ~= ARGV[2] then return -2 end
if tonumber(redis.call('HGET', KEYS[1], 'submitted')) ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'sealed', 1, 'digest', ARGV[3])
return 0
";

/// A script's answer: a count (`ADD_LINES`' lines, `ACK_RESULTS`' collected lines), or why it
/// refused: -1 another submitter added lines meanwhile, -2 another run holds the collector claim.
fn counted_or_refused(job: &JobName, answer: i64) -> Result<u64, QueueError> {
    match answer {
        -1 => Err(QueueError::ConcurrentSubmit {
            job: job.to_string(),
        }),
        -2 => Err(QueueError::OtherCollector {
            job: job.to_string(),
        }),
        now => Ok(now.max(0) as u64),
    }
}

/// Leases whole entries, about as many as `ARGV[2]` lines make (at least one; entries are read
/// while lines are wanted, so the last may bring a few more). First entries idle past the lease:
/// those handed back (idle for years) all; then those whose worker died or stalled, taken over with
/// their delivery count raised. These come in bulk while they have a delivery to spare, since most
/// of a dead worker's lines did not kill it; an entry on its last delivery or past it (a "suspect":
/// one of its lines may be what killed its workers; past its last, the worker gives up the first
/// line left undone) comes alone, one per call, with no other entry (handed back, taken over or
/// new) beside it: its worker fetches its lines one at a time, so the line that kills it is the
/// first it leaves undone. Then, unless a suspect was taken, new entries. An entry taken over comes
/// with its lines' done bits (a string of 0 and 1), so that only the lines without a result are
/// fetched again; one whose lines all have theirs is acked and deleted instead. KEYS: meta, lines,
/// done. ARGV: worker, max lines, the idle time that marks a handed-back entry. Returns {lines
/// taken over, {id, deliveries, fields, alone (1/0), done bits ('' for a new entry)}...}.
const LEASE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOJOB the job was deleted') end
local lease = redis.call('HGET', KEYS[1], 'lease_ms')
local last = tonumber(redis.call('HGET', KEYS[1], 'max_deliveries'))
local per_entry = tonumber(redis.call('HGET', KEYS[1], 'per_entry') or '1')
local max = math.max(1, math.ceil(tonumber(ARGV[2]) / per_entry))
local want = tonumber(ARGV[2])
local out = {0}
local idle = redis.call('XPENDING', KEYS[2], 'workers', 'IDLE', lease, '-', '+', max)
local counts, back, ids, bulk = {}, {}, {}, {}
local suspect = false
for _, p in ipairs(idle) do
  local delivery = tonumber(p[4]) + 1
  counts[p[1]] = delivery
  if tonumber(p[3]) >= tonumber(ARGV[3]) then
    back[p[1]] = true; table.insert(ids, p[1])
  elseif delivery >= last then
    if not suspect then suspect = p[1] end
  else
    table.insert(bulk, p[1])
  end
end
if suspect then
  ids = {suspect}
else
  for _, id in ipairs(bulk) do table.insert(ids, id) end
end
local finished = {}
if #ids > 0 then
  local claimed = redis.call('XCLAIM', KEYS[2], 'workers', ARGV[1], lease, unpack(ids))
  for _, e in ipairs(claimed) do
    if e and e[2] then
      local offsets = lines_of(e[2])
      local done, undone = '', 1
      if offsets then
        local flags = get_bits(KEYS[3], offsets)
        undone = 0
        for _, flag in ipairs(flags) do if flag == 0 then undone = undone + 1 end end
        done = table.concat(flags)
      end
      if undone == 0 then
        finished[#finished + 1] = e[1]
        if e[1] == suspect then suspect = false end
      else
        table.insert(out, {e[1], counts[e[1]], e[2], e[1] == suspect and 1 or 0, done})
        want = want - undone
        if not back[e[1]] then out[1] = out[1] + undone end
      end
    end
  end
end
if #finished > 0 then
  redis.call('XACK', KEYS[2], 'workers', unpack(finished))
  redis.call('XDEL', KEYS[2], unpack(finished))
end
if out[1] > 0 then redis.call('HINCRBY', KEYS[1], 'redelivered', out[1]) end
while not suspect and (want > 0 or #out == 1) do
  local count = math.max(1, math.floor(want / per_entry))
  local r = redis.call('XREADGROUP', 'GROUP', 'workers', ARGV[1], 'COUNT', count, 'STREAMS', KEYS[2], '>')
  if not r then break end
  for _, e in ipairs(r[1][2]) do
    table.insert(out, {e[1], 1, e[2], 0, ''})
    local lines = lines_of(e[2])
    want = want - (lines and #lines or 1)
  end
  if #r[1][2] < count then break end
end
return out
";

/// The Lua functions that [`LEASE`], [`COMPLETE`], [`ACK_RESULTS`] and [`IN_FLIGHT`] start
/// with, on bitmaps of lines (bit `n` in byte `n / 8`, highest bit first, as `BITFIELD`
/// numbers them).
///
/// - `mark(key, at)`: ORs into `key` the spans that `ARGV` holds from `at` on, pairs of a first
///   byte and its mask (from [`bit_spans`]); each span is one `GETRANGE` and one `SETRANGE`, and
///   the script works per byte, never per line. Returns the spans as they were ({first byte,
///   bytes}...) and whether any bit of the masks was set already.
/// - `bit_at(held, first, line)`: the bit of `line` (0 or 1) in `held`, bytes of the bitmap from
///   byte `first` on (0 past their end).
/// - `was_set(olds, line)`: the bit of `line` (0 or 1) in spans `mark` returned.
/// - `get_bits(key, lines)`: the bits of `lines` in `key` (0 or 1, in their order), one
///   `GETRANGE` over them all.
/// - `lines_of(fields)`: the numbers of the lines an entry of the lines stream holds (from its
///   `n` and `l`, one line without `l`), or nil for an entry abreast did not write.
const BITS: &str = r"
local function lines_of(fields)
  local first, lengths
  for i = 1, #fields, 2 do
    if fields[i] == 'n' then first = tonumber(fields[i + 1]) elseif fields[i] == 'l' then lengths = fields[i + 1] end
  end
  if not first then return nil end
  local lines = {}
  for _ in string.gmatch(lengths or '1', '%d+') do lines[#lines + 1] = first + #lines end
  return lines
end
local function mark(key, at)
  local olds, overlap = {}, false
  for i = at, #ARGV, 2 do
    local first, mask = tonumber(ARGV[i]), ARGV[i + 1]
    local old = redis.call('GETRANGE', key, first, first + #mask - 1)
    if string.find(old, '[^%z]') then
      local bytes = {}
      for b = 1, #mask do
        local o, m = string.byte(old, b) or 0, string.byte(mask, b)
        if bit.band(o, m) ~= 0 then overlap = true end
        bytes[b] = bit.bor(o, m)
      end
      redis.call('SETRANGE', key, first, string.char(unpack(bytes)))
    else
      redis.call('SETRANGE', key, first, mask)
    end
    olds[#olds + 1] = {first, old}
  end
  return olds, overlap
end
local function bit_at(held, first, line)
  local byte = string.byte(held, math.floor(line / 8) - first + 1) or 0
  return bit.band(byte, bit.rshift(128, line % 8)) ~= 0 and 1 or 0
end
local function was_set(olds, line)
  local at = math.floor(line / 8)
  for _, span in ipairs(olds) do
    if at >= span[1] and at < span[1] + #span[2] then return bit_at(span[2], span[1], line) end
  end
  return 0
end
local function get_bits(key, lines)
  local out, numbers = {}, {}
  if #lines == 0 then return out end
  local low, high = tonumber(lines[1]), tonumber(lines[1])
  for k, line in ipairs(lines) do
    numbers[k] = tonumber(line)
    if numbers[k] < low then low = numbers[k] elseif numbers[k] > high then high = numbers[k] end
  end
  local first = math.floor(low / 8)
  local held = redis.call('GETRANGE', key, first, math.floor(high / 8))
  for k, line in ipairs(numbers) do out[k] = bit_at(held, first, line) end
  return out
end
";

/// Completes a batch of a worker's records, after the `XADD` that the same transaction
/// (`MULTI`) starts with has appended them all as one entry of the results stream (`n` the
/// lines, `l` the results' lengths, `r` the results one after the other, `s` their summaries
/// joined by commas): the records travel
/// to the stream as the client sent them, never copied through Lua. The script sets the lines'
/// done bits (`mark`, [`BITS`]). When none was set before and no line comes twice, every result
/// is new and the script never looks at a line. Otherwise it finds the lines that already had
/// their result, and cuts the entry (the stream's last, as nothing runs between the two in a
/// transaction) to the new results, or deletes it when none is new. It counts the lines done
/// and given up, and acks and deletes the entries whose lines are all done. KEYS: meta, done,
/// results, lines. ARGV: the ids of the entries to ack, the lines, the positions (from 1) of
/// the lines given up, each joined by commas; the number of lines (0 if one comes twice); the
/// spans of the lines' bits. Returns, per line, 1 if its result was new; nothing when all are.
const COMPLETE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOJOB the job was deleted') end
local olds, overlap = mark(KEYS[2], 5)
local out, fresh, gave_up = {}, tonumber(ARGV[4]), 0
if overlap or fresh == 0 then
  local seen, offsets = {}, {}
  fresh = 0
  for line in string.gmatch(ARGV[2], '%d+') do
    local n = tonumber(line)
    offsets[#offsets + 1] = line
    out[#offsets] = (seen[n] or was_set(olds, n) == 1) and 0 or 1
    seen[n] = true
    fresh = fresh + out[#offsets]
  end
  for k in string.gmatch(ARGV[3], '%d+') do gave_up = gave_up + out[tonumber(k)] end
  local entry = fresh < #offsets and redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
  if entry then
    redis.call('XDEL', KEYS[3], entry[1])
    local field = {}
    for i = 1, #entry[2], 2 do field[entry[2][i]] = entry[2][i + 1] end
    if fresh > 0 and field.l and field.r then
      local lines, kept, parts, at, k = {}, {}, {}, 1, 0
      for length in string.gmatch(field.l, '%d+') do
        k = k + 1
        local n = tonumber(length)
        if out[k] == 1 then
          lines[#lines + 1] = offsets[k]
          kept[#kept + 1] = length
          parts[#parts + 1] = string.sub(field.r, at, at + n - 1)
        end
        at = at + n
      end
      local entry = {'n', table.concat(lines, ','), 'l', table.concat(kept, ','), 'r', table.concat(parts)}
      if field.s then
        local summaries, k = {}, 0
        for summary in string.gmatch(field.s .. ',', '([^,]*),') do
          k = k + 1
          if out[k] == 1 then summaries[#summaries + 1] = summary end
        end
        entry[7], entry[8] = 's', table.concat(summaries, ',')
      end
      redis.call('XADD', KEYS[3], '*', unpack(entry))
    end
  end
else
  for _ in string.gmatch(ARGV[3], '%d+') do gave_up = gave_up + 1 end
end
if fresh > 0 then redis.call('HINCRBY', KEYS[1], 'done', fresh) end
if gave_up > 0 then redis.call('HINCRBY', KEYS[1], 'gave_up', gave_up) end
local ids = {}
for id in string.gmatch(ARGV[1], '[^,]+') do ids[#ids + 1] = id end
if #ids > 0 then
  redis.call('XACK', KEYS[4], 'workers', unpack(ids))
  redis.call('XDEL', KEYS[4], unpack(ids))
end
return out
";

/// The lines held by workers now: those without a result in the entries pending and not
/// handed back, the first `ARGV[2]` of them. KEYS: lines, done. ARGV: the idle time that marks
/// a handed-back entry, entries to look at.
const IN_FLIGHT: &str = r"
local held = 0
for _, p in ipairs(redis.call('XPENDING', KEYS[1], 'workers', '-', '+', ARGV[2])) do
  if tonumber(p[3]) < tonumber(ARGV[1]) then
    local entry = redis.call('XRANGE', KEYS[1], p[1], p[1])[1]
    local offsets = entry and lines_of(entry[2])
    if offsets then
      for _, flag in ipairs(get_bits(KEYS[2], offsets)) do
        if flag == 0 then held = held + 1 end
      end
    end
  end
end
return held
";

/// Renews the worker's own leases and its permits. KEYS: meta, lines, permit keys... ARGV:
/// worker, number of ids, ids..., holders (one per permit key).
const EXTEND: &str = r"
local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_ms'))
if not lease then return redis.error_reply('NOJOB the job was deleted') end
local n = tonumber(ARGV[2])
for i = 3, 2 + n do
  local p = redis.call('XPENDING', KEYS[2], 'workers', ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[1] then
    redis.call('XCLAIM', KEYS[2], 'workers', ARGV[1], 0, ARGV[i], 'JUSTID')
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for k = 3, #KEYS do
  redis.call('ZADD', KEYS[k], 'XX', now + lease, ARGV[2 + n + k - 2])
  redis.call('PEXPIRE', KEYS[k], 2 * lease)
end
return 1
";

/// Hands leases back: idle as if long expired, delivery count as before this delivery.
/// KEYS: lines, permit keys... ARGV: worker, idle_ms, number of leases, (id, retrycount)...,
/// holders.
const HAND_BACK: &str = r"
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local id = ARGV[4 + 2 * i]
  local p = redis.call('XPENDING', KEYS[1], 'workers', id, id, 1)
  if p[1] and p[1][2] == ARGV[1] then
    redis.call('XCLAIM', KEYS[1], 'workers', ARGV[1], 0, id, 'IDLE', ARGV[2], 'RETRYCOUNT', ARGV[5 + 2 * i], 'JUSTID')
  end
end
for k = 2, #KEYS do
  redis.call('ZREM', KEYS[k], ARGV[3 + 2 * n + k - 1])
end
return 1
";

/// Marks results collected, removes them, closes the open batch. KEYS: meta, collected,
/// results, the collector claim. ARGV: the number of entries; the number of lines acked (each
/// once); the collector's claim; per entry, its id, how many lines it holds and how many of them
/// are acked here; then the spans of the acked lines' bits (`mark`, [`BITS`]). -2: another
/// collector holds the claim (nothing is marked). The lines newly collected are those whose bits were not set
/// before (the collector acks again what it had collected, to remove an entry that came twice):
/// all of them, unless a bit was set already. An entry leaves the stream once
/// all its lines are collected: at once when all are acked here (a collector acks what it read,
/// whole entries), else only if the lines not acked here were collected before.
const ACK_RESULTS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOJOB the job was deleted') end
local claimed = redis.call('GET', KEYS[4])
if claimed and claimed ~= ARGV[3] then return -2 end
local entries = tonumber(ARGV[1])
local spans_at = 4 + 3 * entries
local olds, overlap = mark(KEYS[2], spans_at)
local collected = tonumber(ARGV[2])
if overlap then
  collected = 0
  for k, span in ipairs(olds) do
    local mask = ARGV[spans_at + 2 * k - 1]
    for b = 1, #mask do
      local fresh = bit.band(string.byte(mask, b), bit.bnot(string.byte(span[2], b) or 0))
      while fresh ~= 0 do
        collected = collected + 1
        fresh = bit.band(fresh, fresh - 1)
      end
    end
  end
end
if collected > 0 then redis.call('HINCRBY', KEYS[1], 'collected', collected) end
local ids, want, got, whole = {}, {}, {}, {}
for i = 4, 3 + 3 * entries, 3 do
  local id = ARGV[i]
  if not want[id] then want[id] = tonumber(ARGV[i + 1]); got[id] = 0; ids[#ids + 1] = id end
  got[id] = got[id] + tonumber(ARGV[i + 2])
end
for _, id in ipairs(ids) do
  if got[id] >= want[id] then
    whole[#whole + 1] = id
  else
    local entry = redis.call('XRANGE', KEYS[3], id, id)[1]
    if entry and entry[2][1] == 'n' then
      local lines = {}
      for line in string.gmatch(entry[2][2], '%d+') do lines[#lines + 1] = line end
      local all = true
      for _, flag in ipairs(get_bits(KEYS[2], lines)) do
        if flag == 0 then all = false end
      end
      if all then whole[#whole + 1] = id end
    end
  end
end
if #whole > 0 then
  redis.call('XACK', KEYS[3], 'collector', unpack(whole))
  redis.call('XDEL', KEYS[3], unpack(whole))
end
redis.call('HDEL', KEYS[1], 'journal')
return tonumber(redis.call('HGET', KEYS[1], 'collected') or '0')
";

/// Announces the batch a collector is about to write. KEYS: meta, the collector claim. ARGV:
/// the collector's claim, the journal. -2: another collector holds the claim.
const BEGIN_BATCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOJOB the job was deleted') end
local claimed = redis.call('GET', KEYS[2])
if claimed and claimed ~= ARGV[1] then return -2 end
redis.call('HSET', KEYS[1], 'journal', ARGV[2])
return 0
";

/// Takes or renews a claim. KEYS: the claim. ARGV: holder, ttl_ms.
const CLAIM: &str = r"
local h = redis.call('GET', KEYS[1])
if h == false or h == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Gives a claim up if it is the holder's. KEYS: the claim. ARGV: holder.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Takes permits for the holders while fewer than the limit are held, in order. KEYS: the
/// host's permits. ARGV: limit, ttl_ms, holders... Returns how many took one.
const ACQUIRE_HOST: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local taken = 0
for i = 3, #ARGV do
  if taken >= free then break end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
  taken = taken + 1
end
if taken > 0 then redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2])) end
return taken
";

/// Reserves the next start to a host and returns the wait in microseconds. KEYS: the host's
/// next start. ARGV: the interval between starts in microseconds.
const RESERVE_START: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local next = tonumber(redis.call('GET', KEYS[1]) or '0')
if next < now then next = now end
redis.call('SET', KEYS[1], string.format('%d', next + interval), 'PX', math.floor((next + interval - now) / 1000) + 1000)
return next - now
";

/// A host's robots.txt, or the claim to fetch it. KEYS: robots, the origin's claim. ARGV:
/// origin, holder, ttl_ms. Returns {1, file}, {2} (the caller's claim) or {3} (busy).
const ROBOTS: &str = r"
local file = redis.call('HGET', KEYS[1], ARGV[1])
if file then return {1, file} end
local held = redis.call('GET', KEYS[2])
if held == false or held == ARGV[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return {2}
end
return {3}
";

/// Records a heartbeat by the broker's clock. KEYS: workers, seen. ARGV: id, report.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], now)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return now
";

impl RedisQueue {
    /// Connects to the broker at `url` and checks that it answers (and takes the password).
    /// An unreachable broker is [`QueueError::Unreachable`] (retry later); refused credentials
    /// are [`QueueError::Auth`], and a user the broker's ACL does not permit `PING`
    /// [`QueueError::NotPermitted`].
    pub async fn connect(url: &BrokerUrl) -> Result<RedisQueue, QueueError> {
        // TLS (rediss://) goes through rustls with ring, as the HTTP clients do. redis-rs builds
        // its rustls configuration with the process's default provider and takes none of ours,
        // so one must be installed: ring's defaults where the program installed none (abreast's
        // binary and Python package install abreast-fetch's first).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shown = url.redacted();
        let client = redis::Client::open(url.secret()).map_err(|error| QueueError::InvalidUrl {
            url: shown.to_owned(),
            why: error.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let map =
            |error: redis::RedisError| QueueError::from_redis(shown, &error).on_first_connection();
        let mut control = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(map)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut control)
            .await
            .map_err(map)?;
        let blocking = ConnectionManager::new_with_config(
            client.clone(),
            config.set_response_timeout(Some(Duration::from_secs(40))),
        )
        .await
        .map_err(map)?;
        Ok(RedisQueue {
            url: url.clone(),
            client,
            control,
            blocking,
            scripts: std::sync::Arc::new(Scripts::new()),
            per_entry: LINES_PER_ENTRY,
            drained: std::sync::Arc::default(),
        })
    }

    /// The same queue, submitting new jobs in entries of at most `lines` lines (at least 1; the
    /// default is [`LINES_PER_ENTRY`]). A batch of the 512 lines sent per round trip is cut into
    /// entries of that many lines, a smaller batch (a small job, its end, or a slow producer's
    /// lines) into 32 entries or one per line. A worker leases whole entries: with 1, each line
    /// is leased, extended and acked on its own.
    pub fn with_lines_per_entry(mut self, lines: usize) -> RedisQueue {
        self.per_entry = lines.max(1);
        self
    }

    /// Subscribes to the announcements of new lines: each batch of lines a submitter adds (the
    /// first of a new job too) wakes the watcher, so an idle worker leases them at once rather
    /// than on its next look. Only a hint (a message can be lost with its connection), on a
    /// connection of its own, pinged every 30 s ([`NewLines::ping_every`]); once the connection
    /// is lost, or a ping goes unanswered for 5 s, [`NewLines::next`] says so, and the caller
    /// watches again.
    pub async fn watch_new_lines(&self) -> Result<NewLines, QueueError> {
        let map = |error: redis::RedisError| QueueError::from_redis(self.url.redacted(), &error);
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await.map_err(map)?;
            pubsub.subscribe(NEW_LINES_CHANNEL).await.map_err(map)?;
            let (sink, messages) = pubsub.split();
            Ok(NewLines {
                sink,
                messages,
                ping_every: WATCH_PING,
                next_ping: NewLines::after(WATCH_PING),
            })
        };
        tokio::time::timeout(Duration::from_secs(5), subscribe)
            .await
            .unwrap_or_else(|_| {
                Err(QueueError::Unreachable {
                    url: self.url.redacted().to_owned(),
                    detail: "no answer to SUBSCRIBE within 5 s".into(),
                })
            })
    }

    /// The broker's address, password hidden.
    pub fn url(&self) -> &BrokerUrl {
        &self.url
    }

    /// Adds a raw entry to the job's lines or results stream, as another program might: for
    /// tests of how abreast treats entries it did not write.
    pub async fn add_raw_entry(
        &self,
        job: &JobName,
        results: bool,
        fields: &[(&str, &str)],
    ) -> Result<String, QueueError> {
        let keys = Keys::of(job);
        let key = if results { keys.results } else { keys.lines };
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key).arg("*");
        for (name, value) in fields {
            cmd.arg(name).arg(value);
        }
        cmd.query_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))
    }

    fn error(&self, job: &JobName, error: &redis::RedisError) -> QueueError {
        // NOJOB: a script's; UNBLOCKED: a blocking read whose stream was deleted under it;
        // NOGROUP: a read of a stream that is gone with its group (the broker restarted without
        // its data).
        let deleted = error.code() == Some("NOJOB")
            || error.code() == Some("NOGROUP")
            || (error.code() == Some("UNBLOCKED")
                && error.to_string().contains("no longer exists"));
        if deleted {
            return QueueError::NoSuchJob {
                job: job.to_string(),
            };
        }
        QueueError::from_redis(self.url.redacted(), error)
    }

    async fn meta(&self, job: &JobName) -> Result<Vec<(String, String)>, QueueError> {
        redis::cmd("HGETALL")
            .arg(Keys::of(job).meta)
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))
    }

    /// Adds `batch`, if it holds any line, after the job's `have` lines (the input's digests so
    /// far: of all its lines read, and of its first), and empties it; the job's lines now.
    async fn add_batch(
        &self,
        job: &JobName,
        keys: &Keys,
        (have, collector): (u64, &str),
        (hasher, first): (&Xxh3, Option<&str>),
        batch: &mut Vec<String>,
    ) -> Result<u64, QueueError> {
        if batch.is_empty() {
            return Ok(have);
        }
        let mut invocation = self.scripts.add_lines.prepare_invoke();
        invocation
            .key(&keys.meta)
            .key(&keys.lines)
            .key(&keys.collector)
            .arg(have)
            .arg(hex_digest(hasher))
            .arg(NEW_LINES_CHANNEL)
            .arg(job.as_str())
            .arg(first.unwrap_or(""))
            .arg(collector);
        let size = batch
            .len()
            .div_ceil(ENTRIES_PER_BATCH)
            .clamp(1, self.per_entry);
        for entry in batch.chunks(size) {
            invocation
                .arg(entry.len())
                .arg(comma_list(entry.iter().map(String::len)))
                .arg(entry.concat());
        }
        let now: i64 = invocation
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        let now = counted_or_refused(job, now)?;
        batch.clear();
        Ok(now)
    }

    /// [`Queue::complete_many`] for at most [`RESULTS_PER_ENTRY`] leases: one script, one
    /// entry of results.
    async fn complete_entry(
        &self,
        job: &JobName,
        completions: &[Completion<'_>],
    ) -> Result<Vec<bool>, QueueError> {
        let keys = Keys::of(job);
        let mut invocation = self.scripts.complete.prepare_invoke();
        invocation
            .key(&keys.meta)
            .key(&keys.done)
            .key(&keys.results)
            .key(&keys.lines);
        debug_assert!(
            completions.iter().all(|c| !c.summary.contains(',')),
            "a summary holds no comma"
        );
        let lengths = comma_list(completions.iter().map(|c| c.result.len()));
        let lines = comma_list(completions.iter().map(|c| c.lease.line));
        let acks = each_entry_once(completions.iter().filter(|c| c.ack), |c| &c.lease.id);
        let gave_up = (1..)
            .zip(completions)
            .filter(|(_, c)| c.gave_up)
            .map(|(k, _)| k);
        let (spans, distinct) = bit_spans(completions.iter().map(|c| c.lease.line));
        invocation
            .arg(comma_list(acks.iter().map(|c| &c.lease.id)))
            .arg(&lines)
            .arg(comma_list(gave_up))
            .arg(if distinct == completions.len() {
                distinct
            } else {
                0
            });
        for (first, mask) in &spans {
            invocation.arg(first).arg(mask);
        }
        // One transaction: the records appended as they are (NOMKSTREAM: a deleted job's
        // stream is not made again), then the script that completes them; the script is loaded
        // in it too, since a broker that restarted has forgotten it.
        let summaries = comma_list(completions.iter().map(|c| c.summary));
        let results: usize = completions.iter().map(|c| c.result.len()).sum();
        // Sized at once: the records are most of the command, and a growing buffer would copy
        // them again at each doubling.
        let mut append = redis::Cmd::with_capacity(
            12,
            results + summaries.len() + lines.len() + lengths.len() + keys.results.len() + 64,
        );
        append
            .arg("XADD")
            .arg(&keys.results)
            .arg("NOMKSTREAM")
            .arg("*")
            .arg("n")
            .arg(lines)
            .arg("l")
            .arg(lengths)
            .arg("r")
            .arg(Joined(completions))
            .arg("s")
            .arg(summaries);
        let (fresh,): (Vec<i64>,) = redis::pipe()
            .atomic()
            .load_script(&self.scripts.complete)
            .ignore()
            .add_command(append)
            .ignore()
            .invoke_script(&invocation)
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        // Nothing back: every result was new.
        if fresh.is_empty() {
            return Ok(vec![true; completions.len()]);
        }
        Ok(fresh.into_iter().map(|f| f == 1).collect())
    }

    async fn drop_foreign(
        &self,
        job: &JobName,
        stream: &str,
        group: &str,
        ids: &[String],
    ) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("XACK").arg(stream).arg(group).arg(ids).ignore();
        pipe.cmd("XDEL").arg(stream).arg(ids).ignore();
        pipe.cmd("HINCRBY")
            .arg(Keys::of(job).meta)
            .arg("foreign")
            .arg(ids.len())
            .ignore();
        pipe.query_async::<()>(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))
    }
}

/// The results of a batch as one argument, written one after the other straight into the
/// command (no joined copy first).
struct Joined<'a>(&'a [Completion<'a>]);

impl redis::ToRedisArgs for Joined<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + redis::RedisWrite,
    {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        for c in self.0 {
            // Writing to the command's own buffer does not fail.
            let _ = arg.write_all(c.result.as_bytes());
        }
    }
}

/// The reply to TIME, HGETALL workers, HGETALL seen.
type WorkersReply = ((u64, u64), Vec<(String, String)>, Vec<(String, u64)>);

fn field<'a>(meta: &'a [(String, String)], name: &str) -> Option<&'a str> {
    meta.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn number(meta: &[(String, String)], name: &str) -> u64 {
    field(meta, name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A reply's text, taken without copying where the reply holds bytes.
fn into_text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => Some(text),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    into_text(value.clone())
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

fn into_items(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => Vec::new(),
    }
}

/// An entry's fields as `(name, value)` pairs, from a flat array or a map.
fn fields(value: Value) -> Vec<(String, String)> {
    match value {
        Value::Map(pairs) => pairs
            .into_iter()
            .filter_map(|(k, v)| Some((into_text(k)?, into_text(v)?)))
            .collect(),
        other => {
            let mut flat = into_items(other).into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                if let (Some(k), Some(v)) = (into_text(k), into_text(v)) {
                    pairs.push((k, v));
                }
            }
            pairs
        }
    }
}

/// The entries of a stream reply: `(id, fields)`.
fn entries(value: Value) -> Vec<(String, Vec<(String, String)>)> {
    into_items(value)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = into_items(entry).into_iter();
            let id = into_text(parts.next()?)?;
            Some((id, fields(parts.next()?)))
        })
        .collect()
}

/// The entries of an XREADGROUP reply for one stream (RESP2 array or RESP3 map).
fn read_reply(value: Value) -> Vec<(String, Vec<(String, String)>)> {
    match value {
        Value::Map(streams) => streams
            .into_iter()
            .next()
            .map(|(_, e)| entries(e))
            .unwrap_or_default(),
        other => into_items(other)
            .into_iter()
            .next()
            .and_then(|stream| into_items(stream).into_iter().nth(1))
            .map(entries)
            .unwrap_or_default(),
    }
}

/// The results of an entry of the results stream as [`COMPLETE`] wrote it: each line with its
/// result and its summary (empty where the entry has none); `None` for an entry abreast did not
/// write.
fn results_of(fields: &[(String, String)]) -> Option<Vec<(u64, String, String)>> {
    let [(n, lines), (l, lengths), (r, results), rest @ ..] = fields else {
        return None;
    };
    if (n.as_str(), l.as_str(), r.as_str()) != ("n", "l", "r") {
        return None;
    }
    let summaries = match rest {
        [] => None,
        [(s, summaries)] if s == "s" => Some(summaries),
        _ => return None,
    };
    let results = split_joined(results, lengths)?;
    let lines = lines
        .split(',')
        .map(|n| n.parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    // Summaries out of step with the results are dropped, not the results: a summary only
    // spares the collector decoding its result.
    let summaries: Vec<&str> = match summaries.map(|s| s.split(',').collect::<Vec<_>>()) {
        Some(summaries) if summaries.len() == lines.len() => summaries,
        _ => vec![""; lines.len()],
    };
    (lines.len() == results.len() && results.iter().all(|result| result.len() >= 2)).then(|| {
        lines
            .into_iter()
            .zip(results)
            .zip(summaries)
            .map(|((line, result), summary)| (line, result.to_owned(), summary.to_owned()))
            .collect()
    })
}

/// Items joined one after the other (`joined`), cut back apart by their lengths (`lengths`,
/// joined by commas), as entries of both streams hold them; `None` if the lengths do not add up
/// or cut a character.
fn split_joined<'a>(joined: &'a str, lengths: &str) -> Option<Vec<&'a str>> {
    let mut rest = joined;
    let mut parts = Vec::new();
    for length in lengths.split(',') {
        let length: usize = length.parse().ok()?;
        if !rest.is_char_boundary(length) {
            return None;
        }
        let (part, after) = rest.split_at(length);
        parts.push(part);
        rest = after;
    }
    rest.is_empty().then_some(parts)
}

/// `items` with one of each entry id (`id_of`), in their first order: the lines of an entry
/// share its lease, so it is acked, extended or handed back once.
fn each_entry_once<'a, T>(
    items: impl Iterator<Item = T>,
    id_of: impl Fn(&T) -> &'a String,
) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|item| seen.insert(id_of(item))).collect()
}

/// Bytes of a bitmap at most this far apart share a span in [`bit_spans`].
const SPAN_GAP: u64 = 64;
/// Bytes a span of [`bit_spans`] covers at most: the script passes a span's bytes to one Lua
/// call (`string.char(unpack(bytes))`), and Lua 5.1 takes about 8,000 values at most.
const SPAN_MAX: u64 = 4096;

/// The bits of `lines` in a bitmap of lines (bit `n` in byte `n / 8`, highest bit first, as
/// Redis numbers them), as spans to OR in: each span's first byte and the mask of its bytes.
/// Lines close together share a span (of at most [`SPAN_MAX`] bytes), so the scripts
/// ([`BITS`]) read and write each span at once and work per byte, not per line. Also returns
/// how many distinct lines there are.
fn bit_spans(lines: impl IntoIterator<Item = u64>) -> (Vec<(u64, Vec<u8>)>, usize) {
    let mut bits: Vec<u64> = lines.into_iter().collect();
    bits.sort_unstable();
    bits.dedup();
    let mut spans: Vec<(u64, Vec<u8>)> = Vec::new();
    for &line in &bits {
        let (byte, bit) = (line / 8, 0x80u8 >> (line % 8));
        match spans.last_mut() {
            Some((first, mask))
                if byte < *first + mask.len() as u64 + SPAN_GAP && byte < *first + SPAN_MAX =>
            {
                let at = (byte - *first) as usize;
                if at >= mask.len() {
                    mask.resize(at + 1, 0);
                }
                mask[at] |= bit;
            }
            _ => spans.push((byte, vec![bit])),
        }
    }
    (spans, bits.len())
}

/// Items joined by commas, as the scripts take lists.
fn comma_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut list = String::new();
    for (k, item) in items.into_iter().enumerate() {
        if k > 0 {
            list.push(',');
        }
        list.push_str(&item.to_string());
    }
    list
}

/// The lines of an entry of the lines stream as [`ADD_LINES`] wrote it (`n` the first line's
/// number, `l` the lines' lengths, `u` the lines one after the other; or, as an earlier abreast
/// wrote them, `n` and `u` for one line): each line's number and text. `None` for an entry
/// abreast did not write.
fn lines_of(fields: &[(String, String)]) -> Option<Vec<(u64, String)>> {
    match fields {
        [(n, first), (u, line)] if (n.as_str(), u.as_str()) == ("n", "u") => {
            Some(vec![(first.parse().ok()?, line.clone())])
        }
        [(n, first), (l, lengths), (u, joined)]
            if (n.as_str(), l.as_str(), u.as_str()) == ("n", "l", "u") =>
        {
            let first: u64 = first.parse().ok()?;
            let lines = split_joined(joined, lengths)?;
            Some(
                (first..)
                    .zip(lines.into_iter().map(str::to_owned))
                    .collect(),
            )
        }
        _ => None,
    }
}

fn hex_digest(hasher: &Xxh3) -> String {
    format!("{:032x}", hasher.digest128())
}

impl Queue for RedisQueue {
    async fn submit(
        &self,
        job: &JobName,
        spec: &JobSpec,
        lines: &mut (dyn Iterator<Item = std::io::Result<String>> + Send),
        collector: &str,
        verified: &(dyn Fn() + Sync),
    ) -> Result<Submitted, QueueError> {
        let keys = Keys::of(job);
        let lease_ms = spec.lease.as_millis().max(1) as u64;
        let _: i64 = self
            .scripts
            .create
            .key(&keys.meta)
            .key(&keys.lines)
            .key(&keys.results)
            .key(JOBS)
            .arg(&spec.settings)
            .arg(lease_ms)
            .arg(spec.max_deliveries)
            .arg(job.as_str())
            .arg(self.per_entry)
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        let meta = self.meta(job).await?;
        let differs: Vec<&str> = [
            (
                field(&meta, "settings") != Some(spec.settings.as_str()),
                "fetch settings",
            ),
            (number(&meta, "lease_ms") != lease_ms, "--lease"),
            (
                number(&meta, "max_deliveries") != u64::from(spec.max_deliveries),
                "--max-deliveries",
            ),
        ]
        .into_iter()
        .filter_map(|(differs, what)| differs.then_some(what))
        .collect();
        if !differs.is_empty() {
            return Err(QueueError::DifferentSettings {
                job: job.to_string(),
                which: differs.join(" and "),
            });
        }
        let mut have = number(&meta, "submitted");
        let sealed = number(&meta, "sealed") == 1;
        let stored_prefix = field(&meta, "prefix").unwrap_or("").to_owned();
        // The digest of the job's first line: another input is told at its first line, not
        // after as many lines as the job has (a generator that waits for its first record
        // before it yields its second would wait for ever).
        let stored_first = field(&meta, "first").map(str::to_owned);
        let mut first = None;
        let before = have;
        let different = |why: String| QueueError::DifferentInput {
            job: job.to_string(),
            why,
        };
        let mut hasher = Xxh3::new();
        let mut count = 0u64;
        let mut batch: Vec<String> = Vec::new();
        // A sealed job has all its lines: this input is verified only once it has no more.
        let mut told = false;
        if have == 0 && !sealed {
            verified();
            told = true;
        }
        for line in lines {
            let line = line.map_err(QueueError::Input)?;
            // What was read goes to the job at a pause, and whenever it fills a batch.
            let pause = line == crate::PAUSE;
            if !pause {
                hasher.update(line.as_bytes());
                hasher.update(b"\n");
                count += 1;
                if count == 1 {
                    let digest = hex_digest(&hasher);
                    if have > 0
                        && stored_first
                            .as_deref()
                            .is_some_and(|stored| stored != digest)
                    {
                        return Err(different("its first line is not this one".into()));
                    }
                    first = Some(digest);
                }
                if count <= have {
                    if count == have {
                        if hex_digest(&hasher) != stored_prefix {
                            return Err(different(format!("its first {have} lines are not these")));
                        }
                        if !sealed {
                            verified();
                            told = true;
                        }
                    }
                    continue;
                }
                if sealed {
                    return Err(different(format!(
                        "it has {have} lines and this input has more"
                    )));
                }
                batch.push(line);
            }
            if pause || batch.len() == SUBMIT_BATCH {
                have = self
                    .add_batch(
                        job,
                        &keys,
                        (have, collector),
                        (&hasher, first.as_deref()),
                        &mut batch,
                    )
                    .await?;
            }
        }
        have = self
            .add_batch(
                job,
                &keys,
                (have, collector),
                (&hasher, first.as_deref()),
                &mut batch,
            )
            .await?;
        if count < have {
            return Err(different(format!(
                "it has {have} lines and this input has {count}"
            )));
        }
        if !told {
            verified();
        }
        if !sealed {
            let sealed: i64 = self
                .scripts
                .seal
                .key(&keys.meta)
                .key(&keys.collector)
                .arg(have)
                .arg(collector)
                .arg(hex_digest(&hasher))
                .invoke_async(&mut self.control.clone())
                .await
                .map_err(|e| self.error(job, &e))?;
            counted_or_refused(job, sealed)?;
        }
        Ok(Submitted {
            lines: have,
            added: have - before,
        })
    }

    async fn jobs(&self) -> Result<Vec<JobName>, QueueError> {
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(JOBS)
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| QueueError::from_redis(self.url.redacted(), &e))?;
        let mut jobs: Vec<JobName> = names
            .iter()
            .filter_map(|name| JobName::new(name).ok())
            .collect();
        jobs.sort();
        Ok(jobs)
    }

    async fn job(&self, job: &JobName) -> Result<Option<JobInfo>, QueueError> {
        let meta = self.meta(job).await?;
        if meta.is_empty() {
            return Ok(None);
        }
        let keys = Keys::of(job);
        let in_flight: i64 = self
            .scripts
            .in_flight
            .key(&keys.lines)
            .key(&keys.done)
            .arg(HANDED_BACK_AT_LEAST_MS)
            .arg(STATUS_PENDING_MAX)
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        let in_flight = in_flight.max(0) as u64;
        let (lines, done) = (number(&meta, "submitted"), number(&meta, "done"));
        let spec = JobSpec {
            settings: field(&meta, "settings").unwrap_or("").to_owned(),
            lease: Duration::from_millis(number(&meta, "lease_ms")),
            max_deliveries: number(&meta, "max_deliveries") as u32,
        };
        let status = JobStatus {
            job: job.to_string(),
            lines,
            sealed: number(&meta, "sealed") == 1,
            done,
            collected: number(&meta, "collected"),
            waiting: lines.saturating_sub(done).saturating_sub(in_flight),
            in_flight,
            redelivered: number(&meta, "redelivered"),
            gave_up: number(&meta, "gave_up"),
            foreign: number(&meta, "foreign"),
            lease_ms: number(&meta, "lease_ms"),
            max_deliveries: spec.max_deliveries,
        };
        Ok(Some(JobInfo { spec, status }))
    }

    async fn delete_job(&self, job: &JobName) -> Result<bool, QueueError> {
        let keys = Keys::of(job);
        // Whether the job was there is told by its meta and its place in the job list, not by
        // its collector's claim, which `abreast status --delete` itself takes first.
        let (meta, _, listed): (u64, u64, u64) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(&keys.meta)
            .cmd("DEL")
            .arg(&keys.lines)
            .arg(&keys.results)
            .arg(&keys.done)
            .arg(&keys.collected)
            .arg(&keys.collector)
            .arg(keys.robots())
            .cmd("SREM")
            .arg(JOBS)
            .arg(job.as_str())
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(meta + listed > 0)
    }

    async fn lease(&self, job: &JobName, worker: &str, max: usize) -> Result<Leased, QueueError> {
        let keys = Keys::of(job);
        let reply: Value = self
            .scripts
            .lease
            .key(&keys.meta)
            .key(&keys.lines)
            .key(&keys.done)
            .arg(worker)
            .arg(max.max(1))
            .arg(HANDED_BACK_AT_LEAST_MS)
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        let reply = items(&reply);
        let reclaimed = reply.first().and_then(int).unwrap_or(0);
        let mut leased = Leased {
            reclaimed,
            ..Leased::default()
        };
        let mut foreign = Vec::new();
        for entry in reply.iter().skip(1) {
            let [id, deliveries, body, alone, done, ..] = items(entry) else {
                continue;
            };
            let Some(id) = text(id) else { continue };
            let Some(lines) = lines_of(&fields(body.clone())) else {
                foreign.push(id);
                continue;
            };
            let done = text(done).unwrap_or_default().into_bytes();
            let deliveries = int(deliveries).unwrap_or(1);
            let alone = int(alone) == Some(1);
            for (k, (line, text)) in lines.into_iter().enumerate() {
                if done.get(k) == Some(&b'1') {
                    continue;
                }
                leased.leases.push(Lease {
                    id: id.clone(),
                    line,
                    text,
                    deliveries,
                    alone,
                });
            }
        }
        leased.foreign = foreign.len() as u64;
        self.drop_foreign(job, &keys.lines, "workers", &foreign)
            .await?;
        Ok(leased)
    }

    async fn extend(
        &self,
        job: &JobName,
        worker: &str,
        ids: &[String],
        permits: &[(String, String)],
    ) -> Result<(), QueueError> {
        if ids.is_empty() && permits.is_empty() {
            return Ok(());
        }
        let keys = Keys::of(job);
        let ids = each_entry_once(ids.iter(), |id| id);
        let mut invocation = self.scripts.extend.prepare_invoke();
        invocation
            .key(&keys.meta)
            .key(&keys.lines)
            .arg(worker)
            .arg(ids.len());
        for id in ids {
            invocation.arg(id);
        }
        for (host, holder) in permits {
            invocation.key(keys.host(host)).arg(holder);
        }
        invocation
            .invoke_async::<i64>(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(())
    }

    async fn complete_many(
        &self,
        job: &JobName,
        completions: &[Completion<'_>],
    ) -> Result<Vec<bool>, QueueError> {
        let mut fresh = Vec::with_capacity(completions.len());
        for chunk in completions.chunks(RESULTS_PER_ENTRY) {
            fresh.extend(self.complete_entry(job, chunk).await?);
        }
        Ok(fresh)
    }

    async fn hand_back(
        &self,
        job: &JobName,
        worker: &str,
        leases: &[Lease],
        permits: &[(String, String)],
    ) -> Result<(), QueueError> {
        if leases.is_empty() && permits.is_empty() {
            return Ok(());
        }
        let keys = Keys::of(job);
        let entries = each_entry_once(leases.iter(), |lease| &lease.id);
        let mut invocation = self.scripts.hand_back.prepare_invoke();
        invocation
            .key(&keys.lines)
            .arg(worker)
            .arg(HANDED_BACK_IDLE_MS)
            .arg(entries.len());
        for lease in entries {
            invocation
                .arg(&lease.id)
                .arg(lease.deliveries.saturating_sub(1));
        }
        for (host, holder) in permits {
            invocation.key(keys.host(host)).arg(holder);
        }
        invocation
            .invoke_async::<i64>(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(())
    }

    async fn read_results(
        &self,
        job: &JobName,
        max: usize,
        wait: Duration,
    ) -> Result<ResultBatch, QueueError> {
        let keys = Keys::of(job);
        let read = |from: &str, block: Option<Duration>| {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg("collector")
                .arg("collector")
                .arg("COUNT")
                .arg((max / RESULTS_PER_ENTRY).max(1));
            if let Some(block) = block {
                cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
            }
            cmd.arg("STREAMS").arg(&keys.results).arg(from);
            cmd
        };
        // Results handed to this collector before and never acked come first.
        let drained = self
            .drained
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(job);
        let mut got = Vec::new();
        if !drained {
            let pending: Value = read("0", None)
                .query_async(&mut self.control.clone())
                .await
                .map_err(|e| self.error(job, &e))?;
            got = read_reply(pending);
            if got.is_empty() {
                self.drained
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(job.clone());
            }
        }
        if got.is_empty() {
            let fresh: Value = read(">", Some(wait.min(Duration::from_secs(30))))
                .query_async(&mut self.blocking.clone())
                .await
                .map_err(|e| self.error(job, &e))?;
            got = read_reply(fresh);
        }
        let mut batch = ResultBatch::default();
        let mut foreign = Vec::new();
        for (id, fields) in got {
            match results_of(&fields) {
                Some(results) => {
                    // Each line names its entry and the entry's size: `ack_results` removes
                    // the entry once all its lines are collected.
                    let tagged = format!("{id}#{}", results.len());
                    batch
                        .entries
                        .extend(
                            results
                                .into_iter()
                                .map(|(line, body, summary)| ResultEntry {
                                    id: tagged.clone(),
                                    line,
                                    body,
                                    summary,
                                }),
                        );
                }
                None => foreign.push(id),
            }
        }
        batch.foreign = foreign.len() as u64;
        self.drop_foreign(job, &keys.results, "collector", &foreign)
            .await?;
        Ok(batch)
    }

    async fn begin_batch(
        &self,
        job: &JobName,
        collector: &str,
        offset: u64,
        entries: &[(String, u64)],
    ) -> Result<(), QueueError> {
        let list: Vec<String> = entries
            .iter()
            .map(|(id, line)| format!("{id}:{line}"))
            .collect();
        let keys = Keys::of(job);
        let answer: i64 = self
            .scripts
            .begin_batch
            .key(&keys.meta)
            .key(&keys.collector)
            .arg(collector)
            .arg(format!("{offset}|{}", list.join(",")))
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        counted_or_refused(job, answer).map(|_| ())
    }

    async fn open_batch(&self, job: &JobName) -> Result<Option<OpenBatch>, QueueError> {
        let journal: Option<String> = redis::cmd("HGET")
            .arg(Keys::of(job).meta)
            .arg("journal")
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        let Some(journal) = journal else {
            return Ok(None);
        };
        let Some((offset, list)) = journal.split_once('|') else {
            return Ok(None);
        };
        let entries = list
            .split(',')
            .filter_map(|item| {
                let (id, line) = item.rsplit_once(':')?;
                Some((id.to_owned(), line.parse().ok()?))
            })
            .collect();
        Ok(offset
            .parse()
            .ok()
            .map(|offset| OpenBatch { offset, entries }))
    }

    async fn ack_results(
        &self,
        job: &JobName,
        collector: &str,
        entries: &[(String, u64)],
    ) -> Result<u64, QueueError> {
        let keys = Keys::of(job);
        let mut invocation = self.scripts.ack_results.prepare_invoke();
        invocation
            .key(&keys.meta)
            .key(&keys.collected)
            .key(&keys.results)
            .key(&keys.collector);
        // Grouped in runs of one entry (a collector acks whole entries, in order; the script
        // adds up an entry that comes in two runs).
        let mut groups = Vec::new();
        let mut at = 0;
        while at < entries.len() {
            let id = &entries[at].0;
            let group = entries[at..]
                .iter()
                .take_while(|(other, _)| other == id)
                .count();
            groups.push(match id.rsplit_once('#') {
                Some((entry, count)) if count.parse::<u64>().is_ok() => (entry, count, group),
                _ => (id.as_str(), "1", group),
            });
            at += group;
        }
        let (spans, distinct) = bit_spans(entries.iter().map(|(_, line)| *line));
        invocation.arg(groups.len()).arg(distinct).arg(collector);
        for (entry, count, group) in groups {
            invocation.arg(entry).arg(count).arg(group);
        }
        for (first, mask) in &spans {
            invocation.arg(first).arg(mask);
        }
        let collected: i64 = invocation
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        counted_or_refused(job, collected)
    }

    async fn collected(&self, job: &JobName) -> Result<Vec<u8>, QueueError> {
        let bits: Option<Vec<u8>> = redis::cmd("GET")
            .arg(Keys::of(job).collected)
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(bits.unwrap_or_default())
    }

    async fn claim_collector(
        &self,
        job: &JobName,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        let taken: i64 = self
            .scripts
            .claim
            .key(Keys::of(job).collector)
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(taken == 1)
    }

    async fn release_collector(&self, job: &JobName, holder: &str) -> Result<(), QueueError> {
        self.scripts
            .release
            .key(Keys::of(job).collector)
            .arg(holder)
            .invoke_async::<i64>(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(())
    }

    async fn acquire_hosts(
        &self,
        job: &JobName,
        host: &str,
        holders: &[String],
        limit: usize,
        ttl: Duration,
    ) -> Result<usize, QueueError> {
        if holders.is_empty() {
            return Ok(0);
        }
        let taken: i64 = self
            .scripts
            .acquire_host
            .key(Keys::of(job).host(host))
            .arg(limit)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(holders)
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(usize::try_from(taken).unwrap_or(0).min(holders.len()))
    }

    async fn reserve_start(
        &self,
        job: &JobName,
        host: &str,
        per_second: f64,
    ) -> Result<Duration, QueueError> {
        let interval_us = (1_000_000.0 / per_second.max(1e-6)).round() as u64;
        let wait_us: i64 = self
            .scripts
            .reserve_start
            .key(Keys::of(job).rate(host))
            .arg(interval_us.max(1))
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(Duration::from_micros(wait_us.max(0) as u64))
    }

    async fn robots(
        &self,
        job: &JobName,
        origin: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<RobotsEntry, QueueError> {
        let keys = Keys::of(job);
        let reply: Value = self
            .scripts
            .robots
            .key(keys.robots())
            .key(keys.robots_claim(origin))
            .arg(origin)
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))?;
        Ok(match items(&reply) {
            [tag, Value::BulkString(file), ..] if int(tag) == Some(1) => {
                RobotsEntry::Stored(file.clone())
            }
            [tag, ..] if int(tag) == Some(2) => RobotsEntry::Yours,
            _ => RobotsEntry::Busy,
        })
    }

    async fn store_robots(
        &self,
        job: &JobName,
        origin: &str,
        file: &[u8],
    ) -> Result<(), QueueError> {
        let keys = Keys::of(job);
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(keys.robots())
            .arg(origin)
            .arg(file)
            .ignore()
            .cmd("DEL")
            .arg(keys.robots_claim(origin))
            .ignore()
            .query_async::<()>(&mut self.control.clone())
            .await
            .map_err(|e| self.error(job, &e))
    }

    async fn heartbeat(&self, beat: &WorkerBeat) -> Result<(), QueueError> {
        let report = serde_json::to_string(beat).unwrap_or_default();
        self.scripts
            .heartbeat
            .key(WORKERS)
            .key(WORKERS_SEEN)
            .arg(&beat.id)
            .arg(report)
            .invoke_async::<i64>(&mut self.control.clone())
            .await
            .map_err(|e| QueueError::from_redis(self.url.redacted(), &e))?;
        Ok(())
    }

    async fn retire(&self, worker: &str) -> Result<(), QueueError> {
        redis::pipe()
            .cmd("HDEL")
            .arg(WORKERS)
            .arg(worker)
            .ignore()
            .cmd("HDEL")
            .arg(WORKERS_SEEN)
            .arg(worker)
            .ignore()
            .query_async::<()>(&mut self.control.clone())
            .await
            .map_err(|e| QueueError::from_redis(self.url.redacted(), &e))
    }

    async fn workers(&self) -> Result<Vec<WorkerBeat>, QueueError> {
        let ((seconds, micros), reports, seen): WorkersReply = redis::pipe()
            .cmd("TIME")
            .cmd("HGETALL")
            .arg(WORKERS)
            .cmd("HGETALL")
            .arg(WORKERS_SEEN)
            .query_async(&mut self.control.clone())
            .await
            .map_err(|e| QueueError::from_redis(self.url.redacted(), &e))?;
        let now = seconds * 1000 + micros / 1000;
        let mut workers = Vec::new();
        let mut forget = Vec::new();
        for (id, report) in reports {
            let at = seen.iter().find(|(s, _)| *s == id).map_or(0, |(_, at)| *at);
            let ago = now.saturating_sub(at);
            if ago > FORGET_WORKER_MS {
                forget.push(id);
                continue;
            }
            if let Ok(mut beat) = serde_json::from_str::<WorkerBeat>(&report) {
                beat.seen_ms_ago = ago;
                workers.push(beat);
            }
        }
        for id in forget {
            self.retire(&id).await?;
        }
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_spans_join_lines_close_together_and_stay_short() {
        let (spans, distinct) = bit_spans([9, 0, 1, 9, 500]);
        assert_eq!(distinct, 4);
        // Lines 0, 1 and 9 in bytes 0 and 1; line 500 in byte 62, within the gap.
        assert_eq!(spans.len(), 1);
        assert_eq!((spans[0].0, spans[0].1.len()), (0, 63));
        assert_eq!(&spans[0].1[..2], [0b1100_0000, 0b0100_0000]);
        assert_eq!(spans[0].1[62], 0b0000_1000);
        // Far apart: two spans.
        let (spans, _) = bit_spans([0, 8 * (SPAN_GAP + 1)]);
        assert_eq!(spans.len(), 2);
        // Lines every 500 over 100,000 lines: never a span past SPAN_MAX bytes, and every
        // line's bit in exactly one span.
        let lines: Vec<u64> = (0..200).map(|k| k * 500).collect();
        let (spans, distinct) = bit_spans(lines.iter().copied());
        assert_eq!(distinct, 200);
        assert!(spans.len() > 1);
        assert!(spans.iter().all(|(_, mask)| mask.len() as u64 <= SPAN_MAX));
        let ones: u32 = spans
            .iter()
            .flat_map(|(_, mask)| mask.iter().map(|b| b.count_ones()))
            .sum();
        assert_eq!(ones, 200);
        for line in lines {
            let (byte, bit) = (line / 8, 0x80u8 >> (line % 8));
            assert!(spans.iter().any(|(first, mask)| byte >= *first
                && byte < first + mask.len() as u64
                && mask[(byte - first) as usize] & bit != 0));
        }
    }
}
