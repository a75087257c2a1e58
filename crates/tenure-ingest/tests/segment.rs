//! Segment's HTTP Tracking API: the documented example payloads parse, clock skew is corrected,
//! batches merge their envelope, limits are enforced, and a bad message in a batch is reported
//! by index without losing the good ones.

use proptest::prelude::*;
use serde_json::json;
use tenure_domain::time::parse_timestamp;
use tenure_ingest::segment::{parse_request, Endpoint, MessageType, Parsed, RequestError};

fn at(s: &str) -> tenure_domain::Timestamp {
    parse_timestamp(s).unwrap()
}

const RECEIVED: &str = "2026-03-01T12:00:00Z";

fn parse(endpoint: Endpoint, body: &[u8]) -> Result<Parsed, RequestError> {
    parse_request(endpoint, body, at(RECEIVED), "context.groupId")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/segment/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn the_documented_examples_parse() {
    let cases = [
        ("track", Endpoint::Track, MessageType::Track),
        ("identify", Endpoint::Identify, MessageType::Identify),
        ("group", Endpoint::Group, MessageType::Group),
        ("page", Endpoint::Page, MessageType::Page),
        ("screen", Endpoint::Screen, MessageType::Screen),
        ("alias", Endpoint::Alias, MessageType::Alias),
    ];
    for (name, endpoint, kind) in cases {
        let parsed = parse(endpoint, &fixture(name)).unwrap();
        assert!(parsed.rejected.is_empty(), "{name}: {:?}", parsed.rejected);
        let m = &parsed.accepted[0];
        assert_eq!(m.kind, kind, "{name}");
        assert_eq!(
            m.received_at,
            at(RECEIVED),
            "the server's clock, not the sender's receivedAt"
        );
    }
    let track = &parse(Endpoint::Track, &fixture("track")).unwrap().accepted[0];
    assert_eq!(track.event.as_deref(), Some("Course Clicked"));
    assert_eq!(
        track.message_id.as_deref(),
        Some("ajs-f8ca1e4de5024d9430b3928bd8ac6b96")
    );
    assert_eq!(track.properties["title"], "Intro to Analytics");
    // The example's sentAt is 80 ms before its timestamp on the sender's clock, so corrected to
    // the server's clock the event happened 80 ms after arrival: receivedAt − (sentAt − timestamp).
    assert_eq!(track.timestamp, at("2026-03-01T12:00:00.080Z"));
    assert_eq!(
        track.original_timestamp,
        Some(at("2015-12-12T19:11:01.249Z"))
    );
    let identify = &parse(Endpoint::Identify, &fixture("identify"))
        .unwrap()
        .accepted[0];
    assert_eq!(identify.traits["address"]["city"], "San Francisco");
    let group = &parse(Endpoint::Group, &fixture("group")).unwrap().accepted[0];
    assert_eq!(group.group_id.as_deref(), Some("0e8c78ea9d97a7b8185e8632"));
    assert_eq!(
        group.account_id.as_deref(),
        Some("0e8c78ea9d97a7b8185e8632")
    );
    assert_eq!(group.traits["employees"], 329);
    let page = &parse(Endpoint::Page, &fixture("page")).unwrap().accepted[0];
    assert_eq!(page.name.as_deref(), Some("Home"));
    let alias = &parse(Endpoint::Alias, &fixture("alias")).unwrap().accepted[0];
    assert_eq!(
        alias.previous_id.as_deref(),
        Some("39239-239239-239239-23923")
    );
}

#[test]
fn a_batch_merges_its_envelope_into_every_message() {
    let parsed = parse(Endpoint::Batch, &fixture("batch")).unwrap();
    assert_eq!(parsed.accepted.len(), 4);
    for m in &parsed.accepted {
        assert_eq!(m.context["device"]["name"], "Apple iPhone 6");
        assert_eq!(m.integrations["Mixpanel"], true);
        // No sentAt anywhere: the sender's timestamp stands.
        assert_eq!(Some(m.timestamp), m.original_timestamp);
    }
    assert_eq!(parsed.accepted[1].event.as_deref(), Some("Song Played"));
    let body = json!({
        "writeKey": "tnr_wk_x",
        "sentAt": "2026-03-01T10:00:10Z",
        "context": {"groupId": "acme", "locale": "en-GB"},
        "batch": [
            {"type": "track", "userId": "u1", "event": "a", "timestamp": "2026-03-01T10:00:00Z"},
            {"type": "track", "userId": "u1", "event": "b", "timestamp": "2026-03-01T10:00:00Z", "context": {"groupId": "globex"}},
        ]
    });
    let parsed = parse(Endpoint::Batch, body.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.write_key.as_deref(), Some("tnr_wk_x"));
    let [a, b] = &parsed.accepted[..] else {
        panic!("two messages")
    };
    assert_eq!(a.account_id.as_deref(), Some("acme"));
    assert_eq!(
        b.account_id.as_deref(),
        Some("globex"),
        "a message's own context wins"
    );
    assert_eq!(b.context["locale"], "en-GB");
    // The batch's sentAt applies to both: sent 10 s after they happened.
    assert_eq!(a.timestamp, at("2026-03-01T11:59:50Z"));
}

#[test]
fn bad_messages_are_reported_by_index_and_good_ones_kept() {
    let body = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "ok"},
        {"type": "track", "userId": "u1"},
        {"type": "track", "event": "no identity"},
        {"type": "launch", "userId": "u1"},
        {"type": "group", "userId": "u1"},
        {"type": "alias", "userId": "u1"},
        {"type": "identify", "userId": "u1", "timestamp": "yesterday"},
        {"type": "track", "userId": "u1", "event": "x", "properties": [1, 2]},
        "not an object",
        {"userId": "u1"},
        {"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "pro"}, "context": {"traits": {"plan": "free", "email": "a@b.c"}}},
    ]});
    let parsed = parse(Endpoint::Batch, body.to_string().as_bytes()).unwrap();
    let codes: Vec<(usize, &str)> = parsed.rejected.iter().map(|r| (r.index, r.code)).collect();
    assert_eq!(
        codes,
        [
            (1, "missing_event"),
            (2, "missing_identity"),
            (3, "invalid_type"),
            (4, "missing_group_id"),
            (5, "missing_previous_id"),
            (6, "invalid_timestamp"),
            (7, "invalid_field"),
            (8, "invalid_message"),
            (9, "missing_type"),
        ]
    );
    assert_eq!(parsed.accepted.len(), 2);
    assert_eq!(
        parsed.accepted[0].timestamp,
        at(RECEIVED),
        "no timestamp: the arrival time"
    );
    let identify = &parsed.accepted[1];
    assert_eq!(identify.traits["plan"], "pro", "top-level traits win");
    assert_eq!(
        identify.traits["email"], "a@b.c",
        "context.traits are merged in"
    );
    assert!(parsed.rejected[5]
        .message
        .contains("`timestamp` is `yesterday`"));
}

#[test]
fn limits_and_malformed_bodies_are_precise_errors() {
    let big = json!({"type": "track", "userId": "u", "event": "e", "properties": {"blob": "x".repeat(33 * 1024)}}).to_string();
    let err = parse(Endpoint::Track, big.as_bytes()).unwrap_err();
    assert_eq!((err.status, err.code), (413, "payload_too_large"));
    // The same message inside a batch is rejected alone.
    let body = format!(
        "{{\"batch\": [{big}, {{\"type\":\"track\",\"userId\":\"u\",\"event\":\"small\"}}]}}"
    );
    let parsed = parse(Endpoint::Batch, body.as_bytes()).unwrap();
    assert_eq!(parsed.rejected[0].code, "message_too_large");
    assert_eq!(parsed.accepted.len(), 1);
    let huge = format!("{{\"batch\": [{}]}}", vec![big.as_str(); 16].join(","));
    assert_eq!(
        parse(Endpoint::Batch, huge.as_bytes()).unwrap_err().code,
        "payload_too_large"
    );
    let many =
        json!({"batch": vec![json!({"type":"track","userId":"u","event":"e"}); 2501]}).to_string();
    let err = parse(Endpoint::Batch, many.as_bytes()).unwrap_err();
    assert_eq!((err.status, err.code), (413, "batch_too_large"));
    let err = parse(Endpoint::Track, b"{\"type\": \"track\",\n \"userId\": }").unwrap_err();
    assert_eq!((err.status, err.code), (400, "invalid_json"));
    assert!(err.message.contains("line 2"), "{}", err.message);
    assert_eq!(
        parse(Endpoint::Track, b"[1]").unwrap_err().code,
        "invalid_body"
    );
    assert_eq!(
        parse(Endpoint::Batch, b"{\"batch\": {}}").unwrap_err().code,
        "invalid_batch"
    );
    assert_eq!(
        parse(Endpoint::Track, b"{\"writeKey\": 5}")
            .unwrap_err()
            .code,
        "invalid_write_key"
    );
}

#[test]
fn the_account_property_is_configurable() {
    let body = json!({"userId": "u1", "event": "e", "properties": {"account_id": 4711}, "context": {"groupId": "ignored"}});
    let parsed = parse_request(
        Endpoint::Track,
        body.to_string().as_bytes(),
        at(RECEIVED),
        "properties.account_id",
    )
    .unwrap();
    assert_eq!(parsed.accepted[0].account_id.as_deref(), Some("4711"));
    let parsed = parse_request(
        Endpoint::Track,
        body.to_string().as_bytes(),
        at(RECEIVED),
        "traits.company.id",
    )
    .unwrap();
    assert_eq!(parsed.accepted[0].account_id, None);
    assert_eq!(Endpoint::from_path("import"), Some(Endpoint::Import));
    assert_eq!(Endpoint::from_path("trak"), None);
}

proptest! {
    #[test]
    fn no_body_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for endpoint in [Endpoint::Track, Endpoint::Batch] {
            let _ = parse(endpoint, &body);
        }
    }

    #[test]
    fn no_json_value_panics(s in "\\{\"(type|userId|event|batch|timestamp|sentAt)\": ?(\"[a-z0-9:.TZ-]{0,20}\"|[0-9]{1,3}|null|\\[\\]|\\{\\})\\}") {
        for endpoint in [Endpoint::Track, Endpoint::Identify, Endpoint::Group, Endpoint::Alias, Endpoint::Batch] {
            let _ = parse(endpoint, s.as_bytes());
        }
    }
}
