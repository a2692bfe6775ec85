//! Native reducers for map-reduce: built-in reductions over plain ints, floats and
//! strings, run in parallel with rayon on the rank's cores, with no Python (the
//! caller has released the GIL). Integer sums never overflow: they widen to
//! `i128`, then to arbitrary precision. Extraction from Python lives in `py`.

use num_bigint::BigInt;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reducer {
    Sum,
    Min,
    Max,
    Count,
    Concat,
}

impl Reducer {
    pub fn parse(name: &str) -> Option<Reducer> {
        Some(match name {
            "sum" => Reducer::Sum,
            "min" => Reducer::Min,
            "max" => Reducer::Max,
            "count" => Reducer::Count,
            "concat" => Reducer::Concat,
            _ => return None,
        })
    }
}

/// A column of plain values of one kind.
pub enum Column {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Strs(Vec<String>),
}

/// A reduced value. `Big` carries a decimal integer too large for `i64`.
#[derive(Clone, Debug, PartialEq)]
pub enum Reduced {
    Int(i64),
    Big(String),
    Float(f64),
    Str(String),
}

/// Below this many values the work is too small to be worth splitting.
const PARALLEL_MIN: usize = 1 << 14;

fn sum_ints(values: &[i64]) -> Reduced {
    let partial = |chunk: &[i64]| -> i128 { chunk.iter().map(|&v| v as i128).sum() };
    let total: i128 = if values.len() < PARALLEL_MIN {
        partial(values)
    } else {
        // Each chunk of at most 2^20 i64s fits an i128 with room to spare.
        values
            .par_chunks(1 << 20)
            .map(partial)
            .reduce(|| 0, |a, b| a.saturating_add(b))
    };
    match i64::try_from(total) {
        Ok(value) => Reduced::Int(value),
        Err(_) if total != i128::MAX && total != i128::MIN => Reduced::Big(total.to_string()),
        Err(_) => Reduced::Big(
            values
                .iter()
                .map(|&v| BigInt::from(v))
                .sum::<BigInt>()
                .to_string(),
        ),
    }
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Ints(v) => v.len(),
            Column::Floats(v) => v.len(),
            Column::Strs(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `None` for an empty column (except `count`) or a reducer that does not apply.
    pub fn reduce(self, reducer: Reducer) -> Option<Reduced> {
        if reducer == Reducer::Count {
            return Some(Reduced::Int(self.len() as i64));
        }
        if self.is_empty() {
            return None;
        }
        Some(match (self, reducer) {
            (Column::Ints(v), Reducer::Sum) => sum_ints(&v),
            (Column::Ints(v), Reducer::Min) => Reduced::Int(*v.par_iter().min()?),
            (Column::Ints(v), Reducer::Max) => Reduced::Int(*v.par_iter().max()?),
            (Column::Floats(v), Reducer::Sum) => Reduced::Float(v.par_iter().sum()),
            (Column::Floats(v), Reducer::Min) => {
                Reduced::Float(v.par_iter().copied().reduce(|| f64::INFINITY, f64::min))
            }
            (Column::Floats(v), Reducer::Max) => {
                Reduced::Float(v.par_iter().copied().reduce(|| f64::NEG_INFINITY, f64::max))
            }
            (Column::Strs(v), Reducer::Sum | Reducer::Concat) => Reduced::Str(v.concat()),
            (Column::Strs(v), Reducer::Min) => Reduced::Str(v.into_par_iter().min()?),
            (Column::Strs(v), Reducer::Max) => Reduced::Str(v.into_par_iter().max()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_sums_widen_instead_of_overflowing() {
        let values = vec![i64::MAX; 4];
        let expected = (BigInt::from(i64::MAX) * BigInt::from(4)).to_string();
        assert_eq!(
            Column::Ints(values).reduce(Reducer::Sum),
            Some(Reduced::Big(expected))
        );
        let many: Vec<i64> = (0..100_000).collect();
        assert_eq!(
            Column::Ints(many).reduce(Reducer::Sum),
            Some(Reduced::Int(4_999_950_000))
        );
    }

    #[test]
    fn reducers_match_their_definitions() {
        assert_eq!(
            Column::Ints(vec![3, -1, 2]).reduce(Reducer::Min),
            Some(Reduced::Int(-1))
        );
        assert_eq!(
            Column::Floats(vec![0.5, 2.5]).reduce(Reducer::Max),
            Some(Reduced::Float(2.5))
        );
        assert_eq!(
            Column::Strs(vec!["a".into(), "b".into()]).reduce(Reducer::Concat),
            Some(Reduced::Str("ab".into()))
        );
        assert_eq!(
            Column::Ints(vec![]).reduce(Reducer::Count),
            Some(Reduced::Int(0))
        );
        assert_eq!(Column::Ints(vec![]).reduce(Reducer::Sum), None);
    }
}
