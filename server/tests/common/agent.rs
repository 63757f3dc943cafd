//! A scripted agent: the agent's side of the WebSocket, message by message.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Agent {
    ws: Ws,
}

impl Agent {
    pub async fn connect(addr: std::net::SocketAddr, credential: &str, tasks: Value) -> (Agent, Value) {
        let mut req = format!("ws://{addr}/agent/v1/connect").into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
        let mut agent = Agent { ws };
        agent
            .send(json!({ "type": "hello", "protocolVersion": 1, "agentVersion": "0.1.0", "runtime": "simulated",
                "hostname": "host-1", "cpu": 2048, "memory": 1024,
                "attributes": [{ "name": "ecs.availability-zone", "value": "a" }, { "name": "ecs.capability.container-health-check" },
                    { "name": "ecs.capability.secrets.asm.environment-variables" }],
                "tasks": tasks }))
            .await;
        let welcome = agent.next().await;
        (agent, welcome)
    }

    /// The reason a connection with this credential is refused (401 before the upgrade).
    pub async fn refused(addr: std::net::SocketAddr, credential: &str) -> String {
        let mut req = format!("ws://{addr}/agent/v1/connect").into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401);
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned()
            }
            Err(e) => panic!("expected 401, got {e}"),
            Ok(_) => panic!("the credential was accepted"),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.unwrap();
    }

    pub async fn next(&mut self) -> Value {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("a message within 10 s") {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Every message that arrives within `window`.
    #[allow(dead_code)]
    pub async fn within(&mut self, window: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + window;
        let mut out = Vec::new();
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Message::Text(t) = message {
                out.push(serde_json::from_str(&t).unwrap());
            }
        }
        out
    }

    /// Nothing arrives for a moment.
    pub async fn quiet(&mut self) {
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_millis(400), self.ws.next()).await {
            panic!("expected no message, got {t}");
        }
    }
}

