//! The cloud on one machine (see issue: localcloud).
