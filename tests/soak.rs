//! The soak harness, shortened for CI: botgate (the binary) under 500 events/s while its
//! WebSocket destinations are killed and restarted, its POST endpoints refuse 30 % and time
//! out, the OneBot platform drops its link, and botgate gets a SIGTERM and a `kill -9`. No
//! accepted event may be lost beyond what was in flight into a socket that died or not yet
//! written at the `kill -9`, none may arrive out of order, and duplicates are allowed only
//! where the protocol lost an acknowledgement. The full run is `cargo bench --bench soak`.

#[path = "soak_harness/mod.rs"]
mod soak;

#[actix_web::test]
async fn no_accepted_event_is_lost_or_reordered_under_faults() {
    let plan = soak::Plan::short(env!("CARGO_BIN_EXE_botgate").into());
    let report = soak::run(plan).await;
    println!("{report}");
    let context = format!("{report}\nbotgate's log:\n{}", report.log_tail);
    assert!(report.accepted_sim > 3000, "too few events accepted: {context}");
    assert!(report.sent_platform > 500, "too few platform events: {context}");
    assert!(report.platform_drops >= 3, "the platform link was not dropped: {context}");
    for d in &report.destinations {
        assert_eq!(d.lost, 0, "{}: events lost: {context}", d.name);
        assert_eq!(d.out_of_order, 0, "{}: events out of order: {context}", d.name);
        assert_eq!(d.dup_other, 0, "{}: duplicates without cause: {context}", d.name);
        assert!(
            d.delivered * 100 >= d.expected * 95,
            "{}: fewer than 95 % delivered: {context}",
            d.name
        );
        if d.acked {
            assert!(
                d.refused > 0 && d.hung > 0,
                "{}: the endpoint never failed: {context}",
                d.name
            );
            assert_eq!(
                d.in_flight, 0,
                "{}: an acknowledged protocol lost events: {context}",
                d.name
            );
        } else {
            assert!(d.kills >= 10, "{}: its server was not killed: {context}", d.name);
        }
    }
}
