//! The Kafka topics: what each carries and its name, the one list the
//! ingest, the ETL and the operator (its CRD's override keys among them) use.

/// A topic of the pipeline; its full name is `kafka.topic_prefix` + [`Topic::suffix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Orders from every format.
    Orders,
    /// Customer–rider conversations.
    Messages,
    /// System log events.
    Logs,
    /// Customer reviews.
    Reviews,
    /// Source records that could not be read, with their file, position and reason.
    DeadLetter,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::Orders,
        Topic::Messages,
        Topic::Logs,
        Topic::Reviews,
        Topic::DeadLetter,
    ];

    /// The topic's name after the prefix (and its key in the CRD's overrides).
    pub const fn suffix(self) -> &'static str {
        match self {
            Topic::Orders => "orders",
            Topic::Messages => "messages",
            Topic::Logs => "logs",
            Topic::Reviews => "reviews",
            Topic::DeadLetter => "dead-letter",
        }
    }

    /// The topic whose full name this is, under `prefix`.
    pub fn of(full_name: &str, prefix: &str) -> Option<Topic> {
        let suffix = full_name.strip_prefix(prefix)?;
        Topic::ALL.into_iter().find(|t| t.suffix() == suffix)
    }
}

/// Every topic's suffix, in [`Topic::ALL`] order.
pub const TOPICS: [&str; 5] = [
    Topic::ALL[0].suffix(),
    Topic::ALL[1].suffix(),
    Topic::ALL[2].suffix(),
    Topic::ALL[3].suffix(),
    Topic::ALL[4].suffix(),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_map_back_to_their_topic_under_the_prefix_only() {
        for t in Topic::ALL {
            assert_eq!(Topic::of(&format!("p.{}", t.suffix()), "p."), Some(t));
        }
        assert_eq!(Topic::of("orders", "p."), None);
        assert_eq!(Topic::of("p.other", "p."), None);
    }
}
