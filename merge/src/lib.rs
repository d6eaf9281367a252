//! Pure merge logic for scatter-gather reads (no I/O, no clocks): k-way merge
//! of node hit lists and facet aggregation. Filled in by the read-path work;
//! the crate exists now so the dependency rules in ARCHITECTURE.md hold from
//! the start.
