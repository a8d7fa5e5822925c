//! What a settlement reads of the meter readings: each taking-part
//! meter's readings over the intervals its baseline reads (one row a meter,
//! the readings packed into integers), whether late data arrived since the
//! last run, and how complete an event's actual data is.

use super::energy_settlements::json;
use super::{on_read, Pools, Store};
use crate::StoreResult;

/// The most meters whose readings one query reads.
pub const READ_CHUNK_MAX: usize = 2_000;

/// The most slots one [`Store::window_readings`] spans: a packed reading
/// keeps its slot as an offset from the window's start in 19 bits.
pub const WINDOW_SLOTS_MAX: i64 = 1 << 19;

/// One meter's readings over a settlement's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterWindow {
    /// The meter (internal id).
    pub meter: i64,
    /// Its readings: (slot, Wh, actual?), in slot order.
    pub readings: Vec<(i64, i64, bool)>,
}

/// The (slot, Wh, actual?) of a reading as [`Store::window_readings`] has
/// the database pack it into one integer: `wh × 2^20 + (slot − from) × 2 +
/// quality` (quality 0: actual, 1: estimated). Wh is at most an `INTEGER`
/// (31 bits) and the slot's offset is below [`WINDOW_SLOTS_MAX`], so the
/// packed value stays below 2^51 and never collides.
fn unpack_reading(packed: i64, from: i64) -> (i64, i64, bool) {
    assert!(packed >= 0, "a packed reading is never negative: {packed}");
    let wh = packed >> 20;
    let rest = packed & ((1 << 20) - 1);
    (from + (rest >> 1), wh, rest & 1 == 0)
}

impl Store {
    /// The readings of `meters` from slot `from` (inclusive) to `to`
    /// (exclusive) whose interval of the (local) day — `(slot + offset) mod
    /// 96` — lies in `first..=last`: each meter that has any, in meter
    /// order, with its (slot, Wh, actual?) in slot order. At most
    /// [`READ_CHUNK_MAX`] meters a call.
    ///
    /// The database hands over one row a meter, not one a reading: each
    /// reading packed into one integer (see [`unpack_reading`]), aggregated per
    /// meter (`group_concat` on SQLite, `array_agg` on PostgreSQL). A
    /// settlement reads some 176 readings a household, and handing them
    /// over one row each was most of its time (BENCHMARKS.md, issue 12).
    #[allow(clippy::too_many_arguments)]
    pub async fn window_readings(
        &self,
        meters: &[i64],
        from: i64,
        to: i64,
        offset: i64,
        first: i64,
        last: i64,
    ) -> StoreResult<Vec<MeterWindow>> {
        assert!(meters.len() <= READ_CHUNK_MAX, "at most {READ_CHUNK_MAX} meters a read");
        assert!(
            (0..=WINDOW_SLOTS_MAX).contains(&(to - from)),
            "a window of at most {WINDOW_SLOTS_MAX} slots, not {from}..{to}"
        );
        let filter = "slot >= $2 AND slot < $3 AND ((slot + $4) % 96) BETWEEN $5 AND $6";
        // As `unpack_reading` reads it.
        let packed = "(CAST(wh AS BIGINT) * 1048576 + (slot - $2) * 2 + quality)";
        let mut windows: Vec<MeterWindow> = match &self.pools {
            Pools::Sqlite { read, .. } => {
                let rows: Vec<(i64, String)> = sqlx::query_as(&format!(
                    "SELECT meter, group_concat({packed}) FROM meter_readings
                     WHERE meter IN (SELECT value FROM json_each($1)) AND {filter} GROUP BY meter"
                ))
                .bind(json(&meters))
                .bind(from)
                .bind(to)
                .bind(offset)
                .bind(first)
                .bind(last)
                .fetch_all(read)
                .await?;
                rows.into_iter()
                    .map(|(meter, text)| {
                        let readings = text
                            .split(',')
                            .map(|n| {
                                let n = n.parse().unwrap_or_else(|e| panic!("a packed reading `{n}`: {e}"));
                                unpack_reading(n, from)
                            })
                            .collect();
                        MeterWindow { meter, readings }
                    })
                    .collect()
            }
            Pools::Postgres { pool } => {
                let rows: Vec<(i64, Vec<i64>)> = sqlx::query_as(&format!(
                    "SELECT meter, array_agg({packed}) FROM meter_readings
                     WHERE meter = ANY($1) AND {filter} GROUP BY meter"
                ))
                .bind(meters)
                .bind(from)
                .bind(to)
                .bind(offset)
                .bind(first)
                .bind(last)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(meter, packed)| MeterWindow {
                        meter,
                        readings: packed.into_iter().map(|n| unpack_reading(n, from)).collect(),
                    })
                    .collect()
            }
        };
        // Neither aggregate promises an order; the callers are given one.
        windows.sort_unstable_by_key(|w| w.meter);
        for w in &mut windows {
            w.readings.sort_unstable_by_key(|r| r.0);
        }
        Ok(windows)
    }

    /// Whether any reading of an event's taking-part meters, in slots
    /// `from..to`, arrived after `since` (unix seconds): late or corrected
    /// data that calls for settling again.
    pub async fn readings_arrived_since(&self, event_id: i64, from: i64, to: i64, since: i64) -> StoreResult<bool> {
        let found: Option<i64> = on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM energy_participants p JOIN meter_readings r ON r.meter = p.meter
                 WHERE p.event_id = $1 AND r.slot >= $2 AND r.slot < $3 AND r.received_at > $4 LIMIT 1",
            )
            .bind(event_id)
            .bind(from)
            .bind(to)
            .bind(since)
            .fetch_optional(db)
            .await
        })?;
        Ok(found.is_some())
    }

    /// How many of an event's intervals have an actual reading, over the
    /// households that take part (answered `in`, or did not answer when
    /// `default_in`).
    pub async fn actual_readings(&self, event_id: i64, from: i64, to: i64, default_in: bool) -> StoreResult<i64> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM energy_participants p JOIN meter_readings r ON r.meter = p.meter
                 WHERE p.event_id = $1 AND r.slot >= $2 AND r.slot < $3 AND r.quality = 0
                   AND (p.answer = 'in' OR (p.answer IS NULL AND $4))",
            )
            .bind(event_id)
            .bind(from)
            .bind(to)
            .bind(default_in)
            .fetch_one(db)
            .await
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::unpack_reading;

    #[test]
    fn a_packed_reading_unpacks_to_its_slot_wh_and_quality() {
        let from = 1_900_000;
        // wh × 2^20 + (slot − from) × 2 + quality, as the queries pack it.
        assert_eq!(unpack_reading(431 * (1 << 20) + 4_319 * 2, from), (from + 4_319, 431, true));
        assert_eq!(unpack_reading(100_000 * (1 << 20) + 1, from), (from, 100_000, false));
        assert_eq!(
            unpack_reading(i64::from(i32::MAX) * (1 << 20) + ((1 << 19) - 1) * 2 + 1, 0),
            ((1 << 19) - 1, i64::from(i32::MAX), false)
        );
    }
}
