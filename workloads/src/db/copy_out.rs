//! Reading many rows at once as binary `COPY … TO STDOUT` output.

/// The rows of `COPY (query) TO STDOUT (FORMAT binary)`, on a connection
/// of `pool`, handed to `each_row` one at a time as their fields (`None`
/// for NULL), each in Postgres' binary form; the output is read as it
/// streams, holding at most one message and one row. Reading many rows this
/// way skips sqlx's decoding of each row and column of a `SELECT` into
/// Rust values. A COPY that stops early (an error of `each_row`, a broken
/// stream) leaves its connection mid-protocol: it is closed, not returned
/// to the pool.
pub async fn copy_out_binary(
    pool: &sqlx::PgPool,
    query: &str,
    each_row: impl FnMut(&[Option<&[u8]>]) -> Result<(), String>,
) -> Result<u64, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let read = copy_out_on(&mut connection, query, each_row).await;
    if read.is_err() {
        connection.close_on_drop();
    }
    read
}

async fn copy_out_on(
    connection: &mut sqlx::PgConnection,
    query: &str,
    mut each_row: impl FnMut(&[Option<&[u8]>]) -> Result<(), String>,
) -> Result<u64, sqlx::Error> {
    use futures::TryStreamExt as _;
    let protocol = |why: String| sqlx::Error::Protocol(format!("COPY ({query}): {why}"));
    let mut stream = connection
        .copy_out_raw(&format!("COPY ({query}) TO STDOUT (FORMAT binary)"))
        .await?;
    let mut buffer: Vec<u8> = Vec::new();
    let mut reader = BinaryCopyReader::default();
    let mut rows = 0;
    while let Some(chunk) = stream.try_next().await? {
        buffer.extend_from_slice(&chunk);
        let used = reader
            .rows(&buffer, &mut |fields| {
                rows += 1;
                each_row(fields)
            })
            .map_err(protocol)?;
        buffer.drain(..used);
    }
    if !reader.ended {
        return Err(protocol("the output ended before its trailer".into()));
    }
    Ok(rows)
}

/// Parses Postgres' binary COPY format: an 11-byte signature, flags and a
/// header extension, then per row a 16-bit field count (-1 ends the data)
/// and per field a 32-bit length (-1 for NULL) and its bytes.
#[derive(Default)]
struct BinaryCopyReader {
    header_read: bool,
    ended: bool,
    fields: Vec<Option<(usize, usize)>>,
}

/// What is done with each row: its fields, `None` for NULL.
type RowHandler<'a> = dyn FnMut(&[Option<&[u8]>]) -> Result<(), String> + 'a;

const BINARY_COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl BinaryCopyReader {
    /// Hands each complete row of `bytes` to `each_row`; returns how many
    /// bytes it used (a row cut short stays for the next call).
    fn rows(&mut self, bytes: &[u8], each_row: &mut RowHandler<'_>) -> Result<usize, String> {
        let mut at = 0;
        if !self.header_read {
            let fixed = BINARY_COPY_SIGNATURE.len() + 8;
            if bytes.len() < fixed {
                return Ok(0);
            }
            if !bytes.starts_with(BINARY_COPY_SIGNATURE) {
                return Err("not binary COPY output".into());
            }
            // The flags' critical bits (16–31) name format changes this
            // reader does not know.
            if be_i32(bytes, BINARY_COPY_SIGNATURE.len()).unwrap_or(0) as u32 >> 16 != 0 {
                return Err("unknown critical flags in the header".into());
            }
            let extension = be_i32(bytes, fixed - 4).unwrap_or(0);
            let extension = usize::try_from(extension).map_err(|_| "a negative header length")?;
            if bytes.len() < fixed + extension {
                return Ok(0);
            }
            at = fixed + extension;
            self.header_read = true;
        }
        while !self.ended {
            let Some(count) = be_i16(bytes, at) else {
                break;
            };
            if count == -1 {
                self.ended = true;
                at += 2;
                break;
            }
            let count = usize::try_from(count).map_err(|_| format!("{count} fields"))?;
            let mut next = at + 2;
            self.fields.clear();
            let mut complete = true;
            for _ in 0..count {
                let Some(length) = be_i32(bytes, next) else {
                    complete = false;
                    break;
                };
                next += 4;
                if length == -1 {
                    self.fields.push(None);
                    continue;
                }
                let length =
                    usize::try_from(length).map_err(|_| format!("a field of {length} bytes"))?;
                if bytes.len() < next + length {
                    complete = false;
                    break;
                }
                self.fields.push(Some((next, next + length)));
                next += length;
            }
            if !complete {
                break;
            }
            let fields: Vec<Option<&[u8]>> = self
                .fields
                .iter()
                .map(|f| f.map(|(start, end)| &bytes[start..end]))
                .collect();
            each_row(&fields)?;
            at = next;
        }
        Ok(at)
    }
}

fn be_i16(bytes: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// A binary `bigint` or `timestamptz` field (microseconds since 2000-01-01
/// for the latter), or `float8`'s bits.
pub fn binary_i64(field: Option<&[u8]>) -> Option<i64> {
    Some(i64::from_be_bytes(field?.try_into().ok()?))
}

/// A binary `float8` field.
pub fn binary_f64(field: Option<&[u8]>) -> Option<f64> {
    Some(f64::from_bits(binary_i64(field)? as u64))
}

/// Microseconds from the Unix epoch to Postgres' (2000-01-01 UTC).
pub const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                Some(b) => {
                    out.extend((b.len() as i32).to_be_bytes());
                    out.extend(*b);
                }
                None => out.extend((-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn binary_copy_rows_are_read_whatever_the_chunks() {
        let mut all = BINARY_COPY_SIGNATURE.to_vec();
        all.extend(0i32.to_be_bytes());
        all.extend(3i32.to_be_bytes());
        all.extend(b"ext");
        all.extend(row(&[Some(b"C1"), Some(&7i64.to_be_bytes()), None]));
        all.extend(row(&[
            Some(b""),
            Some(&2.5f64.to_bits().to_be_bytes()),
            Some(b"x"),
        ]));
        all.extend((-1i16).to_be_bytes());
        // Every way of cutting the stream in two gives the same rows.
        for cut in 0..=all.len() {
            let mut reader = BinaryCopyReader::default();
            let mut seen: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
            let mut buffer = all[..cut].to_vec();
            let mut record = |fields: &[Option<&[u8]>]| {
                seen.push(fields.iter().map(|f| f.map(<[u8]>::to_vec)).collect());
                Ok(())
            };
            let used = reader.rows(&buffer, &mut record).unwrap();
            buffer.drain(..used);
            buffer.extend_from_slice(&all[cut..]);
            let used = reader.rows(&buffer, &mut record).unwrap();
            assert_eq!(used, buffer.len(), "cut at {cut}");
            assert!(reader.ended);
            assert_eq!(seen.len(), 2, "cut at {cut}");
            assert_eq!(seen[0][0].as_deref(), Some(&b"C1"[..]));
            assert_eq!(binary_i64(seen[0][1].as_deref()), Some(7));
            assert_eq!(seen[0][2], None);
            assert_eq!(binary_f64(seen[1][1].as_deref()), Some(2.5));
        }
        let mut reader = BinaryCopyReader::default();
        assert!(reader
            .rows(b"PGCOPY\nnot-it-at-all", &mut |_| Ok(()))
            .is_err());
        // A critical flag this reader does not know is refused.
        let mut flagged = BINARY_COPY_SIGNATURE.to_vec();
        flagged.extend((1i32 << 16).to_be_bytes());
        flagged.extend(0i32.to_be_bytes());
        let mut reader = BinaryCopyReader::default();
        assert!(reader.rows(&flagged, &mut |_| Ok(())).is_err());
    }
}
