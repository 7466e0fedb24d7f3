//! Rows in PostgreSQL's binary `COPY` format, for the one bulk insert that
//! dominates a catch-up: a timeline row per event.
//!
//! `COPY … FROM STDIN (FORMAT binary)` skips the executor's per-row work
//! that `INSERT … SELECT FROM unnest(…)` pays (array decoding, a tuple
//! formed per row through the plan), and the server parses nothing. The
//! format is small and stable (PostgreSQL's `COPY` docs, "Binary Format"):
//! a signature and two zero words, per row a field count and per field a
//! length-prefixed value in the type's binary send format, and a -1
//! trailer. We encode only the four types the timeline needs; sqlx offers
//! the raw `COPY` channel but no encoder for it.

use time::OffsetDateTime;
use uuid::Uuid;

/// The signature, the flags word and the header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 UTC.
const PG_EPOCH_MICROS: i128 = 946_684_800_000_000;

/// A growing buffer of rows with a fixed number of fields each.
pub(crate) struct CopyRows {
    buf: Vec<u8>,
    fields: i16,
}

impl CopyRows {
    pub(crate) fn new(fields: i16) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(HEADER);
        Self { buf, fields }
    }

    /// Starts a row; exactly `fields` values must follow.
    pub(crate) fn row(&mut self) {
        self.buf.extend_from_slice(&self.fields.to_be_bytes());
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.value(value.as_bytes());
    }

    pub(crate) fn int8(&mut self, value: i64) {
        self.value(&value.to_be_bytes());
    }

    pub(crate) fn uuid(&mut self, value: Uuid) {
        self.value(value.as_bytes());
    }

    pub(crate) fn timestamptz(&mut self, value: OffsetDateTime) {
        let micros = value.unix_timestamp_nanos() / 1000 - PG_EPOCH_MICROS;
        // Every date `time` can hold is microseconds within an i64.
        self.value(&(micros as i64).to_be_bytes());
    }

    /// The finished stream, trailer included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }

    fn value(&mut self, bytes: &[u8]) {
        // Values come from one event of a NATS message (at most a few MiB),
        // far below the format's i32 length limit.
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_its_field_count_then_length_prefixed_values() {
        let mut rows = CopyRows::new(2);
        rows.row();
        rows.text("ab");
        rows.int8(7);

        let bytes = rows.finish();

        let body = &bytes[HEADER.len()..];
        assert_eq!(&body[..2], &2i16.to_be_bytes());
        assert_eq!(&body[2..8], &[0, 0, 0, 2, b'a', b'b']);
        assert_eq!(&body[8..20], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(&body[20..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn timestamps_count_microseconds_from_the_year_2000() {
        let mut rows = CopyRows::new(1);
        rows.row();
        rows.timestamptz(time::macros::datetime!(2000-01-01 00:00:01.5 UTC));

        let bytes = rows.finish();

        let value = &bytes[HEADER.len() + 2 + 4..HEADER.len() + 2 + 12];
        assert_eq!(value, &1_500_000i64.to_be_bytes());
    }
}
