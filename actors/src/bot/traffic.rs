//! Generated traffic for a simulated bot: group messages at a given rate (or as fast as the
//! bot can produce them), for demos and for the benchmark. Each message's text carries its
//! sequence number and the Unix time in microseconds it was produced, so receivers can measure
//! delivery latency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;

use super::actor::BotActor;
use crate::model::{InjectedOrigin, Segment, SimulatedInput, UserId};

/// How many messages one turn of the bot produces when the rate is unlimited, so that commands
/// and other events interleave with a long burst.
const BURST: u32 = 500;

/// Asks a simulated bot to produce `count` group messages from `member` in `group`.
#[derive(Message, Debug, Clone)]
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
    while text.len() < text_size {
        text.push('x');
    }
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

impl Handler<GenerateTraffic> for BotActor {
    type Result = Result<(), crate::model::BotError>;

    fn handle(&mut self, job: GenerateTraffic, ctx: &mut Self::Context) -> Self::Result {
        // Fail fast on a sender outside the world instead of silently producing nothing.
        self.check_member(job.group, job.member)?;
        if job.rate == 0 {
            ctx.notify(Burst { job, next: 0 });
        } else {
            // At most ~1000 ticks a second; faster rates produce several messages per tick.
            let per_tick = (job.rate / 1000).max(1);
            let tick = Duration::from_secs_f64(f64::from(per_tick) / f64::from(job.rate));
            schedule_tick(ctx, job, 0, per_tick, tick);
        }
        Ok(())
    }
}

fn schedule_tick(
    ctx: &mut Context<BotActor>,
    job: GenerateTraffic,
    next: u32,
    per_tick: u32,
    tick: Duration,
) {
    ctx.run_later(tick, move |act, ctx| {
        let end = job.count.min(next.saturating_add(per_tick));
        for seq in next..end {
            if !act.produce(&job, seq) {
                return;
            }
        }
        if end < job.count {
            schedule_tick(ctx, job, end, per_tick, tick);
        }
    });
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
                return;
            }
        }
        if end < msg.job.count {
            ctx.notify(Burst { job: msg.job, next: end });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_carries_sequence_and_time_and_is_padded() {
        let text = traffic_text(7, 100);
        assert_eq!(text.len(), 100);
        assert!(text.starts_with("bench 7 "));
        assert!(traffic_timestamp(&text).is_some_and(|t| t > 1_700_000_000_000_000));
        assert_eq!(traffic_timestamp("hello"), None);
    }
}
