-- The ETL writes order_items and messages only together with their parent
-- row, in the same transaction (etl::load), and never deletes a parent. A
-- foreign key would re-check that, one row at a time, for every bulk-loaded
-- child: about 3.5 times the cost of the insert itself. The checks go; the
-- loader is the one writer of these tables and keeps the invariant.
ALTER TABLE order_items DROP CONSTRAINT IF EXISTS order_items_order_id_fkey;
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_conversation_id_fkey;
