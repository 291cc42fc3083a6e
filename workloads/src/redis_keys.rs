//! The Redis keys, and the fields of the hash and the stream, that the ETL
//! writes and the API reads: both sides spell them only here.

use crate::config::Config;

/// The keys of one pipeline (under `redis.key_prefix`).
pub struct Keys<'a>(&'a str);

impl<'a> Keys<'a> {
    pub fn of(config: &'a Config) -> Self {
        Keys(&config.redis.key_prefix)
    }

    /// `order:{id}`: the order as JSON, with its items.
    pub fn order(&self, order_id: &str) -> String {
        format!("{}order:{order_id}", self.0)
    }

    /// `realtime:stats`: the latest day's figures (hash, [`stats_field`]).
    pub fn stats(&self) -> String {
        format!("{}realtime:stats", self.0)
    }

    /// `leaderboard:restaurants:{board}` (sorted set), board one of [`LEADERBOARDS`].
    pub fn leaderboard(&self, board: &str) -> String {
        format!("{}leaderboard:restaurants:{board}", self.0)
    }

    /// `alerts`: the alert stream ([`alert_field`]).
    pub fn alerts(&self) -> String {
        format!("{}alerts", self.0)
    }

    /// `api:{route}?{query}`: a cached API answer.
    pub fn api_answer(&self, route_and_query: &str) -> String {
        format!("{}api:{route_and_query}", self.0)
    }
}

/// The restaurant leaderboards: by revenue and by orders.
pub const LEADERBOARDS: [&str; 2] = ["revenue", "orders"];

/// The fields of the `realtime:stats` hash.
pub mod stats_field {
    pub const DATE: &str = "date";
    pub const AS_OF: &str = "as_of";
    pub const ORDERS: &str = "orders";
    pub const REVENUE: &str = "revenue";
    pub const CANCELLED: &str = "cancelled";
    pub const ACTIVE_ORDERS: &str = "active_orders";
    pub const LATE_RATE: &str = "late_rate";
    /// Followed by the category: orders of that category.
    pub const CATEGORY_PREFIX: &str = "category:";
}

/// The fields of an `alerts` stream entry.
pub mod alert_field {
    pub const KIND: &str = "kind";
    pub const WINDOW_END: &str = "window_end";
    pub const WINDOW_MINUTES: &str = "window_minutes";
    pub const LATE_RATE: &str = "late_rate";
    pub const THRESHOLD: &str = "threshold";
    pub const ORDERS: &str = "orders";
    pub const EXPECTED: &str = "expected";
}
