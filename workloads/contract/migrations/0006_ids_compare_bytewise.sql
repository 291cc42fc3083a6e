-- Identifiers (order, customer, restaurant, rider, conversation, review and
-- trace ids, and topic names) are codes, equal only when their bytes are:
-- compared byte by byte, every index insert, lookup, sort and merge join on
-- them skips the database's locale collation (strcoll per comparison;
-- en_US.UTF-8, the usual RDS default, is among the slowest). Byte order is
-- their order now (the generated ids sort the same either way; ids with
-- mixed case or punctuation may sort differently than under a locale).
-- Names, addresses and other text keep the database's collation.
--
-- The columns' tables and indexes are rewritten under an exclusive lock;
-- readers of a table wait while it is rewritten. Rather than queue behind a
-- long transaction (and make every reader queue behind it), the migration
-- gives up after 10 s waiting for a lock; the next reconcile or ETL run
-- applies it again.
SET LOCAL lock_timeout = '10s';
ALTER TABLE raw_records ALTER COLUMN topic TYPE text COLLATE "C";
ALTER TABLE dead_letters ALTER COLUMN topic TYPE text COLLATE "C";
ALTER TABLE etl_offsets ALTER COLUMN topic TYPE text COLLATE "C";
ALTER TABLE orders
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN restaurant_id TYPE text COLLATE "C",
    ALTER COLUMN rider_id TYPE text COLLATE "C",
    ALTER COLUMN source_topic TYPE text COLLATE "C";
ALTER TABLE order_items ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE customers ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE restaurants ALTER COLUMN restaurant_id TYPE text COLLATE "C";
ALTER TABLE conversations
    ALTER COLUMN conversation_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN restaurant_id TYPE text COLLATE "C",
    ALTER COLUMN rider_id TYPE text COLLATE "C";
ALTER TABLE messages ALTER COLUMN conversation_id TYPE text COLLATE "C";
ALTER TABLE log_events
    ALTER COLUMN trace_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C";
ALTER TABLE reviews
    ALTER COLUMN review_id TYPE text COLLATE "C",
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN customer_id TYPE text COLLATE "C",
    ALTER COLUMN restaurant_id TYPE text COLLATE "C";
ALTER TABLE mart_restaurant_performance ALTER COLUMN restaurant_id TYPE text COLLATE "C";
ALTER TABLE mart_customer_rfm ALTER COLUMN customer_id TYPE text COLLATE "C";
ALTER TABLE mart_customer_value ALTER COLUMN customer_id TYPE text COLLATE "C";
