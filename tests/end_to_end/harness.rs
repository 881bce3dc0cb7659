//! The harness's own checkers, tried on inputs whose answer is known, so that a checker that
//! accepts everything cannot make the other tests pass.

use clocky_tests::json::{Shape, is_utc_instant, schema_errors};
use serde_json::json;

#[test]
fn instants_must_match_the_template_exactly() {
    assert!(is_utc_instant("2025-01-15T09:00:00Z"));
    for wrong in [
        "2025-01-15T09:00:00+00:00",
        "2025-01-15 09:00:00Z",
        "2025-01-15T09:00Z",
        "2025-01-15T09:00:00.000Z",
        "2025-1-15T09:00:00Z",
        "",
    ] {
        assert!(!is_utc_instant(wrong), "{wrong}");
    }
}

#[test]
fn shapes_keep_the_written_key_order() {
    let shape = Shape::of(br#"{"b": 1, "a": {"z": null, "y": [{"q": true}]}}"#);
    assert_eq!(shape.keys(), ["b", "a"]);
    assert_eq!(shape.field("a").keys(), ["z", "y"]);
    assert_eq!(shape.field("a").field("y").items()[0].keys(), ["q"]);
}

#[test]
fn the_schema_rejects_an_empty_object_and_a_wrong_instant() {
    // Six required top-level fields are missing.
    assert!(!schema_errors(&json!({})).is_empty());

    let mut document = json!({
        "export_info": {
            "generated_at": "2025-01-15T15:45:00Z",
            "user_id": "123456789012345678",
            "username": "alice#1234",
            "export_version": "1.0"
        },
        "user_data": {
            "user_id": "123456789012345678",
            "username": "alice#1234",
            "created_at": "2024-01-01T00:00:00Z",
            "preferences": { "leaderboard_public": false, "timezone": "America/New_York" }
        },
        "sessions": [],
        "breaks": [],
        "statistics": {
            "total_sessions": 0,
            "total_worked_minutes": 0,
            "total_worked_hours": 0.0,
            "average_session_minutes": 0.0,
            "longest_session_minutes": 0,
            "total_break_minutes": 0,
            "servers_count": 0
        },
        "servers": []
    });
    assert_eq!(schema_errors(&document), Vec::<String>::new());

    // An offset instead of Z is not Clocky's form.
    document["export_info"]["generated_at"] = json!("2025-01-15T15:45:00+00:00");
    let errors = schema_errors(&document);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("/export_info/generated_at"),
        "{errors:?}"
    );
}
