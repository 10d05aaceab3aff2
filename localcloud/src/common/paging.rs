//! Marker paging as the OpenStack APIs share it: a page starts just after the item
//! that `marker` names. Each API words an unknown marker and clamps `limit` its own way,
//! so those stay with the API; this is the part that is the same everywhere.

/// Where a page starts: 0 without a marker, else just after the item whose id is
/// `marker`; `Err(marker)` when no item has that id, for the API to word.
pub fn start_after<'a, 'm>(
    mut ids: impl Iterator<Item = &'a str>,
    marker: Option<&'m str>,
) -> Result<usize, &'m str> {
    match marker {
        None => Ok(0),
        Some(m) => ids.position(|id| id == m).map(|i| i + 1).ok_or(m),
    }
}
