//! The bench mode: canned JSON, timestamped SSE deltas, 404 elsewhere.

use std::time::{SystemTime, UNIX_EPOCH};

use mac_fake::{BenchProvider, DELTAS};
use serde_json::{Value, json};

use crate::client;

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros()
}

#[tokio::test]
async fn canned_json_on_both_apis() {
    let fake = BenchProvider::start().await.unwrap();
    for (path, kind) in [
        ("/v1/messages", "message"),
        ("/v1/responses", "response"),
        ("/backend-api/codex/responses", "response"),
    ] {
        let url = format!("{}{path}", fake.origin());
        let response =
            client().post(url).body(json!({ "model": "m" }).to_string()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        let field = if kind == "message" { "type" } else { "object" };
        assert_eq!(body[field], kind, "{path}");
    }
    let missing = client().post(format!("{}/v1/other", fake.origin())).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let get = client().get(format!("{}/v1/messages", fake.origin())).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 404);
    fake.shutdown().await;
}

#[tokio::test]
async fn streams_carry_stamped_deltas_in_order() {
    let fake = BenchProvider::start().await.unwrap();
    for (path, delta_event, last_event) in [
        ("/v1/messages", "content_block_delta", "message_stop"),
        ("/v1/responses", "response.output_text.delta", "response.completed"),
    ] {
        let before = now_us();
        let url = format!("{}{path}", fake.origin());
        let body = json!({ "model": "m", "stream": true });
        let response = client().post(url).body(body.to_string()).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let text = response.text().await.unwrap();
        let after = now_us();
        let frames: Vec<(&str, Value)> = text
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (event, data) = f.split_once('\n').unwrap();
                let data = data.strip_prefix("data: ").unwrap();
                (event.strip_prefix("event: ").unwrap(), serde_json::from_str(data).unwrap())
            })
            .collect();
        let stamps: Vec<u128> = frames
            .iter()
            .filter(|(event, _)| *event == delta_event)
            .map(|(_, data)| u128::from(data["sent_us"].as_u64().unwrap()))
            .collect();
        assert_eq!(stamps.len(), DELTAS, "{path}");
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{path}: {stamps:?}");
        assert!(stamps[0] >= before && stamps[DELTAS - 1] <= after, "{path}");
        assert_eq!(frames.last().unwrap().0, last_event, "{path}");
    }
    fake.shutdown().await;
}
