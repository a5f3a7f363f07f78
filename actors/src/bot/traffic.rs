//! Generated traffic for a simulated bot: group messages at a given rate (or as fast as the
//! bot can produce them), for demos and for the benchmark. Each message's text carries its
//! sequence number and the Unix time in microseconds it was produced, so receivers can measure
//! delivery latency.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;

use super::actor::BotActor;
use crate::cluster::commands::Request;
use crate::model::{InjectedOrigin, Segment, SimulatedInput, UserId};

/// How many messages one turn of the bot produces when the rate is unlimited, so that commands
/// and other events interleave with a long burst.
const BURST: u32 = 500;

/// The most messages one job may ask for.
pub const MAX_COUNT: u32 = 10_000_000;
/// The highest rate a job may ask for, messages per second.
pub const MAX_RATE: u32 = 1_000_000;
/// The longest text a generated message may be padded to, in bytes.
pub const MAX_TEXT_SIZE: usize = 64 * 1024;

/// The shortest sleep of a rate-limited job between two batches.
const TICK: Duration = Duration::from_millis(1);

/// Asks a simulated bot to produce `count` group messages from `member` in `group`.
#[derive(Message, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), crate::model::BotError>")]
pub struct GenerateTraffic {
    /// The group the messages appear in.
    pub group: UserId,
    /// The member who sends them.
    pub member: UserId,
    /// How many.
    pub count: u32,
    /// Messages per second; 0 means as fast as possible.
    pub rate: u32,
    /// Pad each message's text to this many bytes (0: no padding).
    pub text_size: usize,
}

/// The text of generated message `seq`: `bench <seq> <unix µs> <padding>`.
pub fn traffic_text(seq: u32, text_size: usize) -> String {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let mut text = format!("bench {seq} {micros} ");
    let padding = text_size.min(MAX_TEXT_SIZE).saturating_sub(text.len());
    text.extend(std::iter::repeat_n('x', padding));
    text
}

/// Reads the production time (Unix µs) out of a generated message's text.
pub fn traffic_timestamp(text: &str) -> Option<u128> {
    let mut parts = text.strip_prefix("bench ")?.split(' ');
    parts.next()?;
    parts.next()?.parse().ok()
}

impl BotActor {
    fn produce(&mut self, job: &GenerateTraffic, seq: u32) -> bool {
        let input = SimulatedInput::Message {
            origin: InjectedOrigin::Group { group: job.group, member: job.member },
            message: vec![Segment::Text(traffic_text(seq, job.text_size))],
            source: None,
        };
        self.inject_input(input).is_ok()
    }
}

impl GenerateTraffic {
    /// Refuses a job past the bounds, naming the field and its limit.
    pub fn check(&self) -> Result<(), crate::model::BotError> {
        let refuse = |what: String| Err(crate::model::BotError::InvalidParameter(what));
        if self.count > MAX_COUNT {
            return refuse(format!("count {} is over the limit of {MAX_COUNT}", self.count));
        }
        if self.rate > MAX_RATE {
            return refuse(format!("rate {} is over the limit of {MAX_RATE}/s", self.rate));
        }
        if self.text_size > MAX_TEXT_SIZE {
            return refuse(format!("size {} is over the limit of {MAX_TEXT_SIZE}", self.text_size));
        }
        Ok(())
    }

    /// How many messages are due `elapsed` after the start at this job's rate.
    fn due(&self, elapsed: Duration) -> u32 {
        let due = elapsed.as_secs_f64() * f64::from(self.rate);
        // The first message goes out at once; then one every 1/rate seconds.
        (due as u64).saturating_add(1).min(u64::from(self.count)) as u32
    }
}

impl Handler<GenerateTraffic> for BotActor {
    type Result = ResponseActFuture<Self, Result<(), crate::model::BotError>>;

    fn handle(&mut self, job: GenerateTraffic, ctx: &mut Self::Context) -> Self::Result {
        if let Some(forwarded) = self.forward(|| Request::Traffic(job.clone())) {
            // Another node owns the account: its world produces the traffic.
            return Box::pin(forwarded.into_actor(self).map(|answer, _, _| answer.map(|_| ())));
        }
        Box::pin(fut::ready(self.start_traffic(job, ctx)))
    }
}

impl BotActor {
    fn start_traffic(
        &mut self,
        job: GenerateTraffic,
        ctx: &mut Context<Self>,
    ) -> Result<(), crate::model::BotError> {
        job.check()?;
        // Fail fast on a sender outside the world instead of silently producing nothing.
        self.check_member(job.group, job.member)?;
        if job.count == 0 {
            return Ok(());
        }
        if job.rate == 0 {
            ctx.notify(Burst { job, next: 0 });
        } else {
            paced(self, ctx, job, 0, Instant::now());
        }
        Ok(())
    }
}

/// Produces what a paced job owes by now and wakes again shortly. The schedule is kept by
/// deadline — message `n` is due at `start + n/rate` — so a late wake-up catches up instead
/// of pushing every later message back (each tick scheduled after the previous one ran lost
/// a fifth of 200/s and two thirds of 20,000/s).
fn paced(
    act: &mut BotActor,
    ctx: &mut Context<BotActor>,
    job: GenerateTraffic,
    next: u32,
    start: Instant,
) {
    // A wake-up far behind (a stalled machine) catches up in bursts, letting commands in.
    let due = job.due(start.elapsed()).min(next.saturating_add(BURST));
    for seq in next..due {
        if !act.produce(&job, seq) {
            break;
        }
    }
    act.record_changes(ctx);
    if due < job.count {
        // Sleep until message `due` is due (at least a tick, so a fast rate batches).
        let next_at = start + Duration::from_secs_f64(f64::from(due) / f64::from(job.rate));
        let wait = next_at.saturating_duration_since(Instant::now()).max(TICK);
        ctx.run_later(wait, move |act, ctx| paced(act, ctx, job, due, start));
    }
}

/// One turn of an unlimited-rate job.
#[derive(Message)]
#[rtype(result = "()")]
struct Burst {
    job: GenerateTraffic,
    next: u32,
}

impl Handler<Burst> for BotActor {
    type Result = ();

    fn handle(&mut self, msg: Burst, ctx: &mut Self::Context) {
        let end = msg.job.count.min(msg.next.saturating_add(BURST));
        for seq in msg.next..end {
            if !self.produce(&msg.job, seq) {
                self.record_changes(ctx);
                return;
            }
        }
        self.record_changes(ctx);
        if end < msg.job.count {
            ctx.notify(Burst { job: msg.job, next: end });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(count: u32, rate: u32, text_size: usize) -> GenerateTraffic {
        GenerateTraffic { group: 1, member: 2, count, rate, text_size }
    }

    #[test]
    fn jobs_past_the_bounds_are_refused() {
        assert!(job(1, 0, 1_000_000_000_000).check().is_err());
        assert!(job(MAX_COUNT + 1, 0, 0).check().is_err());
        assert!(job(1, MAX_RATE + 1, 0).check().is_err());
        assert!(job(MAX_COUNT, MAX_RATE, MAX_TEXT_SIZE).check().is_ok());
    }

    #[test]
    fn the_schedule_is_by_deadline() {
        let j = job(10_000, 2000, 0);
        assert_eq!(j.due(Duration::ZERO), 1);
        assert_eq!(j.due(Duration::from_millis(500)), 1001);
        assert_eq!(j.due(Duration::from_secs(3)), 6001);
        assert_eq!(j.due(Duration::from_secs(100)), 10_000);
    }

    #[test]
    fn the_text_carries_sequence_and_time_and_is_padded() {
        let text = traffic_text(7, 100);
        assert_eq!(text.len(), 100);
        assert!(text.starts_with("bench 7 "));
        assert!(traffic_timestamp(&text).is_some_and(|t| t > 1_700_000_000_000_000));
        assert_eq!(traffic_timestamp("hello"), None);
    }
}
