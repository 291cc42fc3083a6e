-- Identifiers (order, customer, restaurant, rider, conversation, review and
-- trace ids, and topic names) are ASCII codes: compared byte by byte, they
-- sort as they do under any locale, and every index insert, lookup, sort and
-- merge join on them skips the database's locale collation (strcoll per
-- comparison; en_US.UTF-8, the usual RDS default, is the slowest of all).
-- Names, addresses and other text keep the database's collation.
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
