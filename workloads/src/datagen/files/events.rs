//! The event files: customer–rider conversations and the system log.

use super::*;

/// The CSV order a time-ordered record at position `i` of `n` is about.
fn nearby_csv_order(world: &World, rng: &mut Rng, i: u64, n: u64) -> Order {
    let csv = world.counts.csv_orders;
    let k = (((i as f64 + rng.unit()) / n as f64) * csv as f64) as u64;
    let k = k.min(csv - 1);
    world.order(CSV, k + 1, k, csv)
}

pub fn conversation(world: &World, i: u64, n: u64) -> Conversation {
    let mut rng = Rng::keyed(world.seed, stream::CONVERSATION, i);
    let order = nearby_csv_order(world, &mut rng, i, n);
    let started = order.order_time.at.naive_local() + Duration::minutes(rng.range(1, 10));
    let count = rng.range(1, 8);
    let mut at = started;
    let messages = (0..count)
        .map(|_| {
            let senders = [
                (Sender::Customer, 45.0),
                (Sender::Restaurant, 25.0),
                (
                    Sender::Rider,
                    if order.rider_id.is_some() { 15.0 } else { 0.0 },
                ),
                (Sender::System, 15.0),
            ];
            let sender = senders[rng.weighted(&senders.map(|s| s.1))].0;
            let text = match sender {
                Sender::Customer => rng.pick(CUSTOMER_LINES),
                Sender::Restaurant => rng.pick(RESTAURANT_LINES),
                Sender::Rider => rng.pick(RIDER_LINES),
                Sender::System => rng.pick(SYSTEM_LINES),
            };
            let message = ChatMessage {
                sender,
                sent_at: SourceTime::from_naive_kst(at).with_format(TimeFormat::Rfc3339),
                text: text.to_string(),
            };
            at += Duration::seconds(rng.range(20, 360));
            message
        })
        .collect();
    Conversation {
        conversation_id: format!("M{:09}", i + 1),
        order_id: order.order_id.into(),
        customer_id: order.customer_id.into(),
        restaurant_id: order.restaurant_id.into(),
        rider_id: order.rider_id.map(Into::into),
        started_at: SourceTime::from_naive_kst(started).with_format(TimeFormat::Rfc3339),
        messages,
    }
}

pub fn write_messages(
    world: &World,
    out: &mut impl Write,
    tick: &dyn Fn(),
) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("json_messages");
    let n = world.counts.conversations;
    out.write_all(b"[\n")?;
    for i in 0..n {
        let mut c = conversation(world, i, n);
        let (defect, mut rng) = roll(world.seed, MESSAGES, i);
        let mut doc = serde_json::to_value(&c).map_err(io::Error::other)?;
        match defect {
            Defect::Malformed => {
                if rng.chance(0.5) {
                    doc["conversation_id"] = json!("");
                    d.count_reject(ErrorKind::MissingField);
                } else {
                    doc["messages"][0]["sent_at"] = json!("방금 전");
                    d.count_reject(ErrorKind::InvalidValue);
                }
            }
            Defect::Missing if c.rider_id.is_some() => {
                c.rider_id = None;
                doc["rider_id"] = Value::Null;
                d.count_missing("rider_id");
            }
            _ => {}
        }
        if i > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, &doc).map_err(io::Error::other)?;
        d.records += 1;
        tick();
    }
    out.write_all(b"\n]\n")?;
    Ok(d)
}

pub fn log_event(world: &World, i: u64, n: u64) -> LogEvent {
    let mut rng = Rng::keyed(world.seed, stream::LOG, i);
    let (event, service, level, _, msg) =
        LOG_EVENTS[rng.weighted(&LOG_EVENTS.iter().map(|e| e.3).collect::<Vec<_>>())];
    let time = world.time_at(LOG, i, n) + Duration::milliseconds(rng.below(1000) as i64);
    let system_event = matches!(event, "TIMEOUT" | "RETRY" | "CIRCUIT_OPEN");
    let order_id = if system_event && rng.chance(0.5) {
        None
    } else {
        Some(nearby_csv_order(world, &mut rng, i, n).order_id.into())
    };
    let latency = match event {
        "TIMEOUT" => rng.range(3000, 10_000),
        _ => (rng.normal(4.6, 0.6).exp()).round() as i64,
    };
    LogEvent {
        timestamp: SourceTime::from_naive_kst(time).with_format(TimeFormat::Rfc3339),
        level: LogLevel::parse(level).unwrap_or(LogLevel::Info),
        service: service.to_string(),
        trace_id: Some(format!("{:08x}", rng.next_u64() as u32)),
        order_id,
        event: event.to_string(),
        latency_ms: Some(latency),
        message: Some(msg.to_string()),
        stack_trace: None,
    }
}

/// One log line in the system's layout.
pub fn log_line(e: &LogEvent) -> String {
    let mut line = format!(
        "{} {:<5} [{}]",
        e.timestamp.at.format("%Y-%m-%dT%H:%M:%S%.3f%:z"),
        e.level.as_str(),
        e.service
    );
    if let Some(t) = &e.trace_id {
        line.push_str(&format!(" trace={t}"));
    }
    if let Some(o) = &e.order_id {
        line.push_str(&format!(" order_id={o}"));
    }
    line.push_str(&format!(" event={}", e.event));
    if let Some(ms) = e.latency_ms {
        line.push_str(&format!(" latency_ms={ms}"));
    }
    if let Some(m) = &e.message {
        line.push_str(&format!(" msg=\"{}\"", m.replace('"', "\\\"")));
    }
    line
}

const STACK_TRACE: &[&str] = &[
    "com.baedal.dispatch.DispatchTimeoutException: rider assignment timed out after 30000 ms",
    "\tat com.baedal.dispatch.RiderMatcher.assign(RiderMatcher.java:214)",
    "\tat com.baedal.dispatch.DispatchWorker.run(DispatchWorker.java:88)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\t... 12 more",
];

pub fn write_log(world: &World, out: &mut impl Write, tick: &dyn Fn()) -> io::Result<FileDefects> {
    let mut d = FileDefects::new("log");
    let n = world.counts.log_events;
    for i in 0..n {
        let mut event = log_event(world, i, n);
        let mut rng = Rng::keyed(world.seed, stream::DEFECT + 100 * LOG, i);
        match rng.unit() {
            x if x < 0.004 => {
                // Cut short inside the message: a process died mid-write.
                let line = log_line(&event);
                let msg_start = line.find("msg=\"").map(|p| p + 5).unwrap_or(line.len() / 2);
                let cuts: Vec<usize> = line
                    .char_indices()
                    .map(|(p, _)| p)
                    .filter(|p| *p >= msg_start && *p < line.len() - 1)
                    .collect();
                let cut = if cuts.is_empty() {
                    line.len() - 1
                } else {
                    *rng.pick(&cuts)
                };
                out.write_all(&line.as_bytes()[..cut])?;
                out.write_all(b"\n")?;
                d.count_reject(ErrorKind::Truncated);
            }
            x if x < 0.007 => {
                // Binary noise: never a newline, always invalid UTF-8.
                let len = rng.range(20, 120) as usize;
                let mut noise = vec![0xffu8];
                noise.extend((1..len).map(|_| match rng.below(256) as u8 {
                    b'\n' | b'\r' => 0xfe,
                    b => b,
                }));
                noise.push(b'\n');
                out.write_all(&noise)?;
                d.count_reject(ErrorKind::Unreadable);
            }
            x if x < 0.010 => {
                event.level = LogLevel::Error;
                out.write_all(log_line(&event).as_bytes())?;
                out.write_all(b"\n")?;
                for line in STACK_TRACE {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                }
                d.stack_traces += 1;
            }
            _ => {
                out.write_all(log_line(&event).as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        d.records += 1;
        tick();
    }
    Ok(d)
}
