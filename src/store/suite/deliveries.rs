//! Webhook deliveries: stored once per key, outside a unit as well as in
//! one, listed by state and source in either order, finished with a reason,
//! counted; another connection sees a delivery as soon as it is stored.

use super::{Opener, committed};
use crate::store::{DeliveryCounts, DeliveryFilter, DeliveryState, NewDelivery, Recorded, Store, WebhookSource};

fn new<'a>(source: WebhookSource, key: &'a str, body: &'a str) -> NewDelivery<'a> {
    NewDelivery { source, key, body, received_at: "2026-11-02T09:00:00Z" }
}

fn ids(rows: &[crate::store::DeliveryRow]) -> Vec<i64> {
    rows.iter().map(|d| d.id).collect()
}

pub fn a_delivery_is_stored_once_per_key_and_finished_with_its_reason(s: &Store) {
    let pd = WebhookSource::Pipedrive;
    let first = s.record_delivery(&new(pd, "pipedrive:a", r#"{"meta":{}}"#)).unwrap();
    let Recorded::New(a) = first else { panic!("{first:?}") };
    assert_eq!(s.record_delivery(&new(pd, "pipedrive:a", "{}")).unwrap(), Recorded::Duplicate(a));
    let b = committed(s, || s.record_delivery(&new(WebhookSource::Hubspot, "hubspot:b", "[]")).unwrap()).id();
    let c = s.record_delivery(&new(pd, "pipedrive:c", "{}")).unwrap().id();
    assert!(a < b && b < c, "ids count up: {a} {b} {c}");

    let all = s.webhook_deliveries(&DeliveryFilter { oldest_first: true, ..Default::default() }).unwrap();
    assert_eq!(ids(&all), [a, b, c]);
    let d = &all[0];
    assert_eq!(
        (d.source, d.key.as_str(), d.body.as_str()),
        (pd, "pipedrive:a", r#"{"meta":{}}"#),
        "the first body is kept"
    );
    assert_eq!(
        (d.state, d.events, d.reason.as_deref(), d.applied_at.as_deref()),
        (DeliveryState::Pending, 0, None, None)
    );
    assert_eq!(d.received_at, "2026-11-02T09:00:00Z");

    s.finish_delivery(a, DeliveryState::Applied, 2, None, "2026-11-02T09:00:01Z").unwrap();
    committed(s, || {
        s.finish_delivery(c, DeliveryState::Unmappable, 0, Some("no org_id"), "2026-11-02T09:00:02Z").unwrap()
    });
    let pending = |f: DeliveryFilter| ids(&s.webhook_deliveries(&f).unwrap());
    let only = |state| DeliveryFilter { state: Some(state), oldest_first: true, ..Default::default() };
    assert_eq!(pending(only(DeliveryState::Pending)), [b]);
    assert_eq!(pending(only(DeliveryState::Applied)), [a]);
    assert_eq!(pending(DeliveryFilter { source: Some(pd), ..Default::default() }), [c, a], "newest first");
    assert_eq!(pending(DeliveryFilter { limit: 2, ..Default::default() }), [c, b]);
    assert_eq!(pending(DeliveryFilter { limit: 1, oldest_first: true, ..Default::default() }), [a]);
    let c_row = s.webhook_deliveries(&only(DeliveryState::Unmappable)).unwrap().remove(0);
    assert_eq!(
        (c_row.reason.as_deref(), c_row.applied_at.as_deref()),
        (Some("no org_id"), Some("2026-11-02T09:00:02Z"))
    );
    let a_row = s.webhook_deliveries(&only(DeliveryState::Applied)).unwrap().remove(0);
    assert_eq!(a_row.events, 2);
    assert_eq!(s.delivery_counts().unwrap(), DeliveryCounts { pending: 1, applied: 1, unmappable: 1 });
}

pub fn a_delivery_rolled_back_with_its_unit_is_gone(s: &Store) {
    let unit = s.begin().unwrap();
    s.record_delivery(&new(WebhookSource::Hubspot, "hubspot:x", "[]")).unwrap();
    unit.rollback().unwrap();
    assert!(s.webhook_deliveries(&DeliveryFilter::default()).unwrap().is_empty());
    assert!(matches!(s.record_delivery(&new(WebhookSource::Hubspot, "hubspot:x", "[]")).unwrap(), Recorded::New(_)));
}

pub fn another_connection_sees_a_delivery_once_stored(o: &Opener) {
    let (_guard, s) = (o.fresh)();
    let Some(other) = (o.other)(&s) else { return };
    let id = s.record_delivery(&new(WebhookSource::Pipedrive, "pipedrive:k", "{}")).unwrap().id();
    let seen = other.webhook_deliveries(&DeliveryFilter::default()).unwrap();
    assert_eq!(ids(&seen), [id], "stored outside a unit: committed at once");
    assert_eq!(
        other.record_delivery(&new(WebhookSource::Pipedrive, "pipedrive:k", "{}")).unwrap(),
        Recorded::Duplicate(id)
    );
}
