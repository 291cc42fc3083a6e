//! How the API serves: the order cache, the real-time views, bad requests,
//! Redis or Postgres down, the OpenAPI document under schemathesis, and the
//! dashboard in headless Chromium.

use super::*;

#[test]
fn cached_orders_come_from_redis_or_postgres_and_refill_the_cache() {
    on_loaded(|data, app| async move {
        let pool = data.ns.pool().await;
        let mut redis = data.ns.redis().await;
        // An old order: not pre-cached by the ETL.
        let (id, json): (String, String) = sqlx::query_as(&format!(
            "{} ORDER BY o.order_time LIMIT 1",
            baedal::etl::realtime::ORDER_JSON_SQL
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        let key = data.ns.key(&format!("order:{id}"));
        let _: () = redis::AsyncCommands::del(&mut redis, &key).await.unwrap();
        let miss = get_ok(&app, &format!("/cache/order/{id}")).await;
        assert_eq!(miss.cache.as_deref(), Some("miss"));
        assert_eq!(miss.json, serde_json::from_str::<Value>(&json).unwrap());
        let ttl: i64 = redis::AsyncCommands::ttl(&mut redis, &key).await.unwrap();
        assert!(ttl > 0 && ttl <= 3600, "refilled with the order TTL: {ttl}");
        let hit = get(&app, &format!("/cache/order/{id}")).await;
        assert_eq!(hit.cache.as_deref(), Some("hit"));
        assert_eq!(hit.json, miss.json);
        assert_eq!(hit.json["order_id"], id.as_str());

        let missing = get(&app, "/cache/order/O999999999").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.json["error"], "not_found");
        for bad in ["abc", "O12", "O12345678X", "%27%3B--"] {
            let reply = get(&app, &format!("/cache/order/{bad}")).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(reply.json["error"], "bad_request");
        }

        // The metrics saw the hit and the miss.
        let metrics = get(&app, "/metrics").await;
        let text = metrics.json.as_str().unwrap();
        assert!(
            text.contains("baedal_api_cache_lookups_total{result=\"hit\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "baedal_api_requests_total{route=\"/cache/order/{order_id}\",status=\"404\"}"
            ),
            "{text}"
        );
    });
}

#[test]
fn realtime_views_equal_redis_and_postgres() {
    on_loaded(|data, app| async move {
        let stats = get_ok(&app, "/realtime/stats").await;
        assert_eq!(stats.json["source"], "redis");
        let mut redis = data.ns.redis().await;
        let hash: HashMap<String, String> =
            redis::AsyncCommands::hgetall(&mut redis, data.ns.key("realtime:stats"))
                .await
                .unwrap();
        assert_eq!(stats.json["orders"].to_string(), hash["orders"]);
        assert_eq!(stats.json["revenue"].to_string(), hash["revenue"]);
        assert_eq!(stats.json["date"], hash["date"].as_str());
        // The latest day, from the files.
        let last = valid(&data.orders).map(kst_day).max().unwrap();
        let today = valid(&data.orders).filter(|o| kst_day(o) == last).count();
        assert_eq!(stats.json["orders"], today as i64);
        let categories: i64 = stats.json["categories"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_i64().unwrap())
            .sum();
        assert_eq!(categories, today as i64);

        let alerts = get(&app, "/realtime/alerts?limit=1000").await;
        let stream: redis::streams::StreamRangeReply =
            redis::AsyncCommands::xrange_all(&mut redis, data.ns.key("alerts"))
                .await
                .unwrap();
        let listed = alerts.json["alerts"].as_array().unwrap();
        assert_eq!(listed.len(), stream.ids.len());
        if let Some(newest) = stream.ids.last() {
            assert_eq!(listed[0]["id"], newest.id.as_str());
        }
    });
}

#[test]
fn bad_requests_get_400_with_a_json_error() {
    on_loaded(|_, app| async move {
        for (uri, needle) in [
            ("/analytics/order-trends?from=2024-13-45", "not a date"),
            ("/analytics/order-trends?to=", "to is empty"),
            ("/realtime/leaderboard?by=", "by is empty"),
            ("/analytics/demand-forecast?days=", "days is empty"),
            ("/analytics/order-trends?from=yesterday", "not a date"),
            ("/analytics/restaurant-performance?limit=100000000", "limit"),
            ("/analytics/restaurant-performance?limit=-1", "limit"),
            ("/analytics/restaurant-performance?sort=name", "sort"),
            ("/analytics/menu?min_support=2", "min_support"),
            ("/analytics/order-trends?colour=blue", "unknown parameter"),
            (
                "/analytics/order-trends?from=2024-01-01&from=2024-02-01",
                "more than once",
            ),
            (
                "/analytics/customer-segments?customer_id=%3Cscript%3E",
                "not a customer id",
            ),
            ("/realtime/alerts?limit=99999", "limit"),
        ] {
            let reply = get(&app, uri).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{uri}: {}",
                reply.json
            );
            assert_eq!(reply.json["error"], "bad_request", "{uri}");
            assert!(
                reply.json["message"].as_str().unwrap().contains(needle),
                "{uri}: {}",
                reply.json
            );
        }
        let nothing = get(&app, "/no/such/route").await;
        assert_eq!(nothing.status, StatusCode::NOT_FOUND);
        assert_eq!(nothing.json["error"], "not_found");
        // A district the data does not have: no such orders, named.
        let unknown = get(
            &app,
            "/analytics/order-trends?district=%EC%97%86%EB%8A%94%EA%B5%AC",
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.json["message"]
            .as_str()
            .unwrap()
            .contains("unknown district"));
        // `from` after `to` selects no order.
        let inverted = get(
            &app,
            "/analytics/order-trends?from=2024-05-01&to=2024-04-01",
        )
        .await;
        assert_eq!(inverted.status, StatusCode::OK);
        assert_eq!(inverted.json["by_day"], serde_json::json!([]));
        // A known district passes.
        let known = get(&app, "/analytics/dimensions").await;
        let district = known.json["districts"][0].as_str().unwrap().to_string();
        let ok = get(
            &app,
            &format!("/analytics/order-trends?district={}", url_encode(&district)),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK);
    });
}

#[test]
fn with_redis_down_answers_come_from_postgres_and_readyz_says_degraded() {
    on_loaded(|data, _| async move {
        let healthy = data.app();
        let mut down = config(&data.ns);
        down.redis.url = format!("redis://127.0.0.1:{}/", common::free_port());
        let down = app(down);
        let ready = get(&healthy, "/readyz").await;
        assert_eq!(ready.json["status"], "ready");
        let degraded = get(&down, "/readyz").await;
        assert_eq!(degraded.status, StatusCode::OK);
        assert_eq!(degraded.json["status"], "degraded");
        assert_eq!(degraded.json["redis"], "down");
        for uri in [
            "/analytics/order-trends?from=2024-02-01&to=2024-02-10",
            "/analytics/restaurant-performance?limit=3",
            "/analytics/customer-segments",
        ] {
            let a = get(&healthy, uri).await;
            let b = get(&down, uri).await;
            assert_eq!(b.status, StatusCode::OK, "{uri}");
            assert_eq!(a.json, b.json, "{uri}");
        }
        let stats = get(&down, "/realtime/stats").await;
        assert_eq!(stats.json["source"], "postgres");
        let from_redis = get(&healthy, "/realtime/stats").await;
        for field in [
            "date",
            "orders",
            "revenue",
            "cancelled",
            "active_orders",
            "categories",
        ] {
            assert_eq!(stats.json[field], from_redis.json[field], "{field}");
        }
        let alerts = get(&down, "/realtime/alerts").await;
        assert_eq!(alerts.json["source"], "postgres");
        let order = get(&down, "/cache/order/O000000001").await;
        assert_eq!(order.status, StatusCode::OK);
        assert_eq!(order.cache.as_deref(), Some("miss"));
    });
}

#[test]
fn with_postgres_down_requests_get_503_within_the_deadline() {
    runtime().block_on(async {
        let mut config = Config::default();
        config.database.url = format!(
            "postgres://postgres@127.0.0.1:{}/baedal",
            common::free_port()
        );
        config.redis.key_prefix = "baedal-test-pg-down:".into();
        config.api.db_timeout_ms = 1000;
        let app = app(config);
        for uri in [
            "/analytics/order-trends",
            "/analytics/customer-lifetime-value",
            "/cache/order/O000000001",
            "/readyz",
        ] {
            let started = Instant::now();
            let reply = get(&app, uri).await;
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{uri} answered in {:?}",
                started.elapsed()
            );
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{uri}: {}",
                reply.json
            );
            if uri != "/readyz" {
                assert_eq!(reply.json["error"], "database_unavailable", "{uri}");
            }
        }
        let live = get(&app, "/healthz").await;
        assert_eq!(live.status, StatusCode::OK);
    });
}

#[test]
fn openapi_names_every_route_and_the_dashboard_pages_are_served() {
    on_loaded(|data, app| async move {
        let doc = get(&app, "/openapi.json").await;
        let paths = doc.json["paths"].as_object().unwrap();
        assert!(paths.len() >= 13);
        // Required query parameters get a value the data has.
        let restaurant = valid(&data.orders)
            .next()
            .unwrap()
            .restaurant_id
            .to_string();
        let examples = HashMap::from([("restaurant_id", restaurant)]);
        for (path, item) in paths {
            let mut uri = path.replace("{order_id}", "O000000001");
            let required: Vec<String> = item["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["required"] == true && p["in"] == "query")
                .map(|p| {
                    let name = p["name"].as_str().unwrap();
                    format!("{name}={}", examples[name])
                })
                .collect();
            if !required.is_empty() {
                uri = format!("{uri}?{}", required.join("&"));
            }
            let reply = get(&app, &uri).await;
            assert!(
                reply.status.is_success(),
                "{path} is documented and answers: {}",
                reply.status
            );
        }
        for page in ["trends", "customers", "restaurants", "delivery", "realtime"] {
            let reply = get_ok(&app, &format!("/dashboard/{page}")).await;
            let html = reply.json.as_str().unwrap();
            assert!(html.contains(&format!("data-page=\"{page}\"")));
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "no remote assets"
            );
        }
        for asset in ["app.js", "charts.js", "style.css"] {
            let reply = get(&app, &format!("/dashboard/assets/{asset}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{asset}");
        }
        let missing = get(&app, "/dashboard/nope").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    });
}

/// Stops the child process when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `baedal api` on a free port over the loaded data, and its base URL.
fn serve(data: &Loaded) -> (Running, String) {
    let port = common::free_port();
    let api = Running(
        data.ns
            .command(&["api", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("baedal api starts"),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the API did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (api, format!("http://127.0.0.1:{port}"))
}

#[test]
fn every_route_conforms_to_the_openapi_document_under_schemathesis() {
    let data = loaded();
    let (_api, base) = serve(data);
    // Every check, a bounded budget: schema-valid requests are answered,
    // schema-violating ones refused, and every answer is as documented.
    let mut st = std::process::Command::new("python3");
    st.args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{base}/openapi.json"))
        .args([
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--workers",
            "2",
            "--no-color",
        ]);
    let report = common::run_ok(st, Duration::from_secs(300), "schemathesis");
    assert!(report.contains("passed"), "{report}");
}

#[test]
fn every_dashboard_page_draws_its_charts_in_headless_chromium_without_console_errors() {
    let data = loaded();
    let (_api, base) = serve(data);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    let modules = std::env::var_os("BAEDAL_NODE_MODULES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::tools_dir().join("node/node_modules"));
    let mut node = std::process::Command::new("node");
    node.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/dashboard.mjs"
    ))
    .arg(&base)
    .arg(&shots)
    .env("BAEDAL_NODE_MODULES", modules);
    let report = common::run_ok(node, Duration::from_secs(180), "the dashboard in Chromium");
    let pages: Vec<Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(pages.len(), 5, "{report}");
    for page in &pages {
        assert!(page["charts"].as_i64().unwrap() >= 1, "{page}");
        assert!(page["marks"].as_i64().unwrap() >= 1, "{page}");
        assert_eq!(page["errors"].as_array().unwrap().len(), 0, "{page}");
        let shot = shots.join(format!("{}.png", page["page"].as_str().unwrap()));
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "{}",
            shot.display()
        );
    }
    // The new panels: the anomalous hours circled on the trends page (as
    // many as the API reports), both CLV figures on the customers page, the
    // suggested routes on the delivery page.
    let page = |name: &str| pages.iter().find(|p| p["page"] == name).unwrap();
    let drawn = |name: &str| -> Vec<String> {
        page(name)["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        drawn("trends").contains(&"anomalies".to_string()),
        "{report}"
    );
    assert!(
        drawn("customers").contains(&"top-clv".to_string()),
        "{report}"
    );
    for panel in ["routes", "route-list"] {
        assert!(
            drawn("delivery").contains(&panel.to_string()),
            "{panel}: {report}"
        );
    }
    let anomalies =
        runtime().block_on(async { get(&data.app(), "/analytics/anomalies?days=7").await });
    let anomalous = anomalies.json["hours"].as_array().unwrap().len();
    assert!(
        anomalous > 0,
        "no anomalous hour to draw: {}",
        anomalies.json
    );
    assert_eq!(page("trends")["anomaly_marks"], anomalous, "{report}");
    eprintln!("dashboard screenshots in {}", shots.display());
}
