-- A citizen's district (issue 13): an optional GB/T 2260 six-digit
-- county-level code in the citizen's province, checked by the core
-- (`canopy_core::district`) before it is written. The city figures group
-- acts by it (and by its city, derived from the code). Like the region, it
-- stays when the account is erased, for regional totals.
ALTER TABLE users ADD COLUMN district TEXT NULL;
