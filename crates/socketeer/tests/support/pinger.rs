//! The healthy client of the flood tests: acknowledged echoes every 2 ms
//! while `flooding` holds, each round trip timed. Included with `#[path]`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketeer::client::Socket;
use socketeer::Value;

/// Echoes through `healthy` until `flooding` is cleared, then closes its
/// manager; returns every round trip.
pub fn ping_while(
    healthy: Socket,
    flooding: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut rtts = Vec::new();
        let mut i = 0u64;
        while flooding.load(Ordering::Relaxed) {
            let t = Instant::now();
            let answer = healthy
                .emit_with_ack("echo", vec![Value::from(i)])
                .timeout(Duration::from_secs(10))
                .await
                .expect("the healthy client is answered");
            rtts.push(t.elapsed());
            assert_eq!(answer, vec![Value::from(i)]);
            i += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        healthy.manager().close();
        rtts
    })
}
