//! Tables of fake data shared by the tests.

use sluice::labels::label;
use sluice::proto::thanos::Label;
use sluice::store::fake::{FakeSeries, Table};

pub fn ls(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut v: Vec<Label> = pairs.iter().map(|(n, v)| label(n, v)).collect();
    sluice::labels::sort(&mut v);
    v
}

/// `n` series of metric `name` with `samples` samples each, 15 s apart.
pub fn series(name: &str, n: usize, samples: usize) -> Vec<FakeSeries> {
    (0..n)
        .map(|i| FakeSeries {
            labels: ls(&[
                ("__name__", name),
                ("instance", &format!("host-{i:04}")),
                ("job", "node"),
            ]),
            samples: (0..samples as i64)
                .map(|k| (k * 15_000, (k + i as i64) as f64))
                .collect(),
        })
        .collect()
}

/// A store holding `series` with one external label.
pub fn store(ext: (&str, &str), series: Vec<FakeSeries>) -> Table {
    Table {
        external_labels: ls(&[ext]),
        series,
        supports_without_replica_labels: true,
        ..Default::default()
    }
}
