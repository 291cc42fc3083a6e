-- The ID (KIP-516) each topic had when the ETL first read it. A topic
-- deleted and made again under the same name gets a new ID; its offsets
-- then name other messages than the ones stored under them, so the ETL
-- refuses to read it rather than skip or mistake the new topic's messages.
CREATE TABLE etl_topic_ids (
    topic      text COLLATE "C" PRIMARY KEY,
    topic_id   text COLLATE "C" NOT NULL,
    first_seen timestamptz      NOT NULL DEFAULT now()
);
