//! Commands across the cluster against a real `nats-server`: a command for a bot owned by
//! another node runs on the owner and answers its result — or the bot's own error, as it is;
//! with no owner the caller gets an error saying so, at once.

mod nats;

use std::time::{Duration, Instant};

use actix::Actor;
use botgate_actors::bot::{BotActor, SimulatedWorldSpec};
use botgate_actors::cluster::{commands, ClusterLink};
use botgate_actors::model::{BotError, Command, CommandOutput, MessageTarget, Segment};

#[test]
fn a_command_runs_on_the_owner_and_its_result_or_error_comes_back() {
    let nats = nats::nats_server();
    actix::System::new().block_on(async move {
        let lease = Duration::from_secs(5);
        let owner = ClusterLink::connect(std::slice::from_ref(&nats.url), "gate-a", lease)
            .await
            .expect("a");
        let caller = ClusterLink::connect(std::slice::from_ref(&nats.url), "gate-c", lease)
            .await
            .expect("c");
        let bot = BotActor::simulated(10001, &SimulatedWorldSpec::default(), 16).start();
        let serving = commands::serve(&owner, 10001, bot).await.expect("serve");

        let wait = Duration::from_secs(5);
        match commands::call(&caller, 10001, &Command::BotInfo, wait).await {
            Ok(CommandOutput::Friend(me)) => assert_eq!(me.id, 10001),
            other => panic!("BotInfo answered {other:?}"),
        }
        let send = Command::SendMessage {
            target: MessageTarget::Friend(424242),
            message: vec![Segment::Text("hi".into())],
            quote: None,
        };
        let refused = commands::call(&caller, 10001, &send, wait).await;
        assert!(
            matches!(refused, Err(BotError::NoSuchElement(_))),
            "the bot's own error: {refused:?}"
        );

        // The owner stops serving (it left): the caller learns at once, not after the timeout.
        serving.stop().await;
        let started = Instant::now();
        let err = commands::call(&caller, 10001, &Command::BotInfo, wait).await;
        match err {
            Err(BotError::Internal(why)) => assert!(why.contains("no node owns"), "{why}"),
            other => panic!("expected the missing owner, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    });
}
