-- The tracking row's state is the projector's own serialization of an
-- `Order`, written whole and read whole; nothing queries inside it but the
-- erasure's redaction. As jsonb, PostgreSQL parsed and re-encoded it on every
-- write and printed it back as text on every read, which made up about half
-- of a tracking upsert's cost. As json it is kept as the text we send, only
-- checked to be valid JSON. Comparisons of two states go through jsonb.
alter table order_tracking alter column state type json using state::json;
