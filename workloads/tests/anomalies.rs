//! Anomaly detection end to end: a burst of late orders in one hour of a
//! generated dataset is loaded through Kafka and the ETL, then served by
//! `/analytics/anomalies` and raised on the alert stream.

mod common;

use baedal::api::{self, ApiContext};
use baedal::model::kst;
use chrono::{Duration, NaiveTime, Timelike};
use common::{canonical_orders, generated, runtime, Namespace};
use redis::AsyncCommands;

/// Orders added to the burst hour: far above any hour of the small dataset.
const BURST: usize = 80;

#[test]
fn a_burst_of_late_orders_in_one_hour_is_an_anomaly_on_the_api_and_an_alert_on_the_stream() {
    let ns = Namespace::new();
    let (dir, _) = generated(31, 0.03);
    // The burst: three hours before the hour of the latest order, a complete
    // hour within the last day of data (what alerts cover).
    let orders = canonical_orders(dir.path());
    let local = |o: &baedal::model::Order| o.order_time.at.with_timezone(&kst()).naive_local();
    let latest = orders.values().map(local).max().expect("orders");
    let hour = latest
        .date()
        .and_time(NaiveTime::from_hms_opt(0, 0, 0).expect("midnight"))
        + Duration::hours(i64::from(latest.hour()) - 3);
    let before = orders
        .values()
        .filter(|o| o.impossible_values().is_empty())
        .filter(|o| local(o) >= hour && local(o) < hour + Duration::hours(1))
        .count();
    // Every order of the burst is delivered an hour after its estimate: the
    // hour's late rate is an anomaly too.
    let mut csv = String::from(
        "order_id,order_time,customer_id,restaurant_id,order_amount,order_status,menu_items,\
         estimated_delivery_min,actual_delivery_min\n",
    );
    for i in 0..BURST {
        csv.push_str(&format!(
            "OB{i:08},{},CB{i:06},R00001,15000,DELIVERED,치킨:1:15000,30,90\n",
            (hour + Duration::seconds(i as i64 * 30)).format("%Y-%m-%d %H:%M:%S")
        ));
    }
    std::fs::write(dir.path().join("burst_orders.csv"), csv).expect("burst file");
    ns.ingest(dir.path());
    ns.run(&["etl"]);

    let config = ns.config();
    runtime().block_on(async {
        let app = api::router(ApiContext::new(config).expect("api"));
        let reply = common::get(&app, "/analytics/anomalies?days=3").await;
        assert!(reply.status.is_success());
        let answer = reply.json;
        let burst = format!("{}", hour.format("%Y-%m-%dT%H:00:00+09:00"));
        let anomalous = |metric: &str| {
            answer["hours"]
                .as_array()
                .expect("hours")
                .iter()
                .find(|h| h["hour"] == burst.as_str() && h["metric"] == metric)
                .unwrap_or_else(|| panic!("{metric} at {burst} is not an anomaly: {answer:#}"))
        };
        let found = anomalous("orders");
        assert_eq!(
            found["actual"].as_f64(),
            Some((before + BURST) as f64),
            "{found}"
        );
        assert!(
            found["actual"].as_f64() > found["upper"].as_f64(),
            "{found}"
        );
        assert!(
            found["expected"].as_f64() < found["upper"].as_f64(),
            "{found}"
        );
        let late = anomalous("late_rate");
        let value = |name: &str| {
            late[name]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {late}"))
        };
        assert!(value("actual") > value("upper"), "{late}");
        // The drawn series has every hour of the three days up to the last.
        let series = answer["series"].as_array().expect("series");
        assert!(series.len() > 48 && series.len() <= 72, "{}", series.len());
        let point = series
            .iter()
            .find(|p| p["hour"] == hour.format("%Y-%m-%dT%H:00").to_string())
            .expect("the burst hour in the series");
        assert_eq!(point["orders"].as_u64(), Some((before + BURST) as u64));

        // The alert stream has it, ending at the end of the hour.
        let mut redis = ns.redis().await;
        let entries: redis::streams::StreamRangeReply =
            redis.xrange_all(ns.key("alerts")).await.expect("stream");
        let end = (hour + Duration::hours(1))
            .and_local_timezone(kst())
            .single()
            .expect("kst")
            .to_rfc3339();
        for kind in ["orders_anomaly", "late_rate_anomaly"] {
            let raised = entries.ids.iter().any(|e| {
                let field = |name: &str| {
                    e.map
                        .get(name)
                        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                        .unwrap_or_default()
                };
                field("kind") == kind && field("window_end") == end
            });
            assert!(raised, "no {kind} alert ending at {end}: {:?}", entries.ids);
        }
    });
}
