//! The full soak run: `cargo bench --bench soak` (about three minutes). Prints the table the
//! README's "Durability" section gives. `SOAK_PLAN=short` runs CI's shortened plan instead;
//! `SOAK_SECONDS` sets the length.

#[path = "../tests/soak_harness/mod.rs"]
mod soak;

fn main() {
    let botgate = env!("CARGO_BIN_EXE_botgate").into();
    let mut plan = match std::env::var("SOAK_PLAN").as_deref() {
        Ok("short") => soak::Plan::short(botgate),
        _ => soak::Plan::full(botgate),
    };
    if let Some(secs) = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()) {
        plan.duration = std::time::Duration::from_secs(secs);
    }
    let report = actix_web::rt::System::new().block_on(soak::run(plan));
    println!("{report}");
    let failed: Vec<_> = report
        .destinations
        .iter()
        .filter(|d| d.lost > 0 || d.out_of_order > 0 || d.dup_other > 0)
        .map(|d| d.name)
        .collect();
    if !failed.is_empty() {
        eprintln!("targets missed by {failed:?}; botgate's log:\n{}", report.log_tail);
        std::process::exit(1);
    }
}
