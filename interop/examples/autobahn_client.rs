//! Drives the Autobahn test suite's fuzzing server with socketeer's client:
//! `cargo run --release --example autobahn_client -- ws://127.0.0.1:9001 [AGENT]`.

use socketeer_ws::{connect_with_options, ConnectOptions, DeflateConfig, Message};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn options() -> ConnectOptions {
    let mut o = ConnectOptions::default();
    o.handshake.deflate = Some(DeflateConfig::default());
    o
}

async fn case_count(base: &str) -> Result<u32, BoxError> {
    let (mut ws, _) = connect_with_options(&format!("{base}/getCaseCount"), &options()).await?;
    let mut count = None;
    while let Some(msg) = ws.recv().await {
        match msg {
            Ok(Message::Text(t)) => count = Some(t.trim().parse()?),
            Ok(_) => {}
            // wstest may reset the connection after its close frame.
            Err(e) if count.is_some() => {
                eprintln!("after the case count: {e}");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    count.ok_or_else(|| "no case count received".into())
}

async fn run_case(base: &str, case: u32, agent: &str) -> Result<(), BoxError> {
    let url = format!("{base}/runCase?case={case}&agent={agent}");
    let (mut ws, _) = connect_with_options(&url, &options()).await?;
    while let Some(msg) = ws.recv().await {
        match msg {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.feed(m).await?,
            Ok(_) => {}
            // Protocol errors are what many cases test: the connection has
            // been failed with the right close code; go to the next case.
            Err(_) => break,
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_owned();
    let agent = args.next().unwrap_or_else(|| "socketeer".into());
    let count = case_count(&base).await?;
    eprintln!("running {count} cases as agent {agent}");
    for case in 1..=count {
        if let Err(e) = run_case(&base, case, &agent).await {
            eprintln!("case {case}: {e}");
        }
    }
    let (mut ws, _) =
        connect_with_options(&format!("{base}/updateReports?agent={agent}"), &options()).await?;
    while let Some(msg) = ws.recv().await {
        if let Err(e) = msg {
            eprintln!("while updating reports: {e}");
            break;
        }
    }
    eprintln!("reports updated");
    Ok(())
}
