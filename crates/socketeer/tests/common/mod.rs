//! Helpers shared by the integration tests that speak raw Engine.IO over a
//! WebSocket.

use socketeer_ws::{MaybeTlsStream, Message, WebSocketStream};

/// The next text frame, answering Engine.IO pings on the way.
pub async fn next_text(ws: &mut WebSocketStream<MaybeTlsStream>) -> String {
    loop {
        match ws
            .recv()
            .await
            .expect("connection ended")
            .expect("receive failed")
        {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await.unwrap(),
            Message::Text(t) => return t.as_str().to_owned(),
            _ => {}
        }
    }
}
