//! The protobuf wire format, read and written: varints and length-delimited fields.
//! Its own module so the message tables ([`crate::protobuf_messages`]) can read fields
//! without depending on the body handling that uses them.

/// A field's value as the wire format carries it (fixed-width numbers are skipped).
pub enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("a varint runs past the end")?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a varint is too long".into())
}

/// The fields of one message, in order.
pub fn fields(buf: &[u8]) -> Result<Vec<(u32, Field<'_>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        let n = u32::try_from(key >> 3).map_err(|_| "a field number is too large")?;
        let skip = |at: &mut usize, len: usize| -> Result<(), String> {
            if buf.len() - *at < len {
                return Err("a field runs past the end".into());
            }
            *at += len;
            Ok(())
        };
        let v = match key & 7 {
            0 => Field::Varint(varint(buf, &mut at)?),
            1 => {
                skip(&mut at, 8)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).map_err(|e| e.to_string())?;
                let start = at;
                skip(&mut at, len)?;
                Field::Bytes(&buf[start..at])
            }
            5 => {
                skip(&mut at, 4)?;
                Field::Fixed
            }
            t => return Err(format!("wire type {t} is not supported")),
        };
        out.push((n, v));
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Appends length-delimited field `n`.
pub fn put(out: &mut Vec<u8>, n: u32, bytes: &[u8]) {
    put_varint(out, u64::from(n) << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
