//! The columns of a `kubectl get` Table ([`crate::table`], [`crate::table_storage`]).

pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    /// 0: always shown; 1: with `-o wide`.
    pub priority: u8,
    pub description: &'static str,
}

pub const fn col(
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        priority,
        description,
    }
}

pub const NAME: Column = col(
    "Name",
    "string",
    0,
    "Name must be unique within a namespace.",
);
pub const AGE: Column = col("Age", "string", 0, "CreationTimestamp of the object.");
