//! `ring.json`: SPEC §7, the consistent-hash ring.

use super::*;

#[derive(Serialize)]
pub(crate) struct RingGroup {
    pub(crate) comment: &'static str,
    pub(crate) vnodes: u32,
    pub(crate) shards: Vec<ShardSpec>,
    pub(crate) tests: Vec<RingTest>,
}

#[derive(Serialize)]
pub(crate) struct RingTest {
    #[serde(rename = "tcId")]
    pub(crate) tc_id: usize,
    pub(crate) comment: String,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) op: &'static str,
    pub(crate) key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_kind: Option<&'static str>,
    pub(crate) result: &'static str,
}

pub(crate) const RING_NOTES: &[(&str, &str)] = &[
    ("Pick", "pick: first point with hash ≥ h(key), wrapping; points ordered by (hash, shard name)."),
    ("PickN", "pick_n: distinct healthy shards clockwise from the same start."),
    ("Weight", "A shard of weight w owns vnodes·w points (labels `name#0` … `name#(vnodes·w−1)`)."),
    ("Unhealthy", "Unhealthy shards keep their points; lookups walk past them."),
    ("NoHealthy", "No healthy shard (or fewer than n for pick_n) is a `ring` error."),
    ("PcsIdKey", "The key is a pcs_id, as the server routes records."),
];

pub(crate) fn shard(name: &str, weight: u32, healthy: bool) -> ShardSpec {
    ShardSpec { name: name.into(), weight, healthy }
}

pub(crate) fn ring_file() -> File<RingGroup> {
    let example_id = spec_example().pcs_id;
    let keys: Vec<String> = vec!["".into(), "a".into(), "key-1".into(), "key-2".into(), "tenant/7/record".into(), example_id.clone(), "é🦀".into()];
    let numbered = |n: usize, w: u32| (0..n).map(|i| shard(&format!("shard-{i:03}"), w, true)).collect::<Vec<_>>();
    let weighted = vec![shard("alpha", 1, true), shard("beta", 3, true), shard("gamma", 2, true)];
    let mut sick = numbered(5, 1);
    sick[1].healthy = false;
    sick[3].healthy = false;
    type RingGroupIn = (&'static str, u32, Vec<ShardSpec>, Vec<(&'static str, usize)>);
    let groups_in: Vec<RingGroupIn> = vec![
        ("three shards, default vnodes", 150, vec![shard("a", 1, true), shard("b", 1, true), shard("c", 1, true)], vec![("pick", 0), ("pick_n", 2), ("pick_n", 3), ("pick_n", 4)]),
        ("one shard", 150, vec![shard("only", 1, true)], vec![("pick", 0), ("pick_n", 1), ("pick_n", 2)]),
        ("weights 1, 3, 2", 150, weighted, vec![("pick", 0), ("pick_n", 3)]),
        ("five shards, two unhealthy", 150, sick, vec![("pick", 0), ("pick_n", 3), ("pick_n", 4)]),
        ("sixty-four shards, vnodes 40", 40, numbered(64, 1), vec![("pick", 0), ("pick_n", 5)]),
        ("two shards, vnodes 1 (sparse ring, wrap-around)", 1, vec![shard("x", 1, true), shard("y", 2, true)], vec![("pick", 0), ("pick_n", 2)]),
        ("all shards unhealthy", 150, vec![shard("a", 1, false), shard("b", 1, false)], vec![("pick", 0), ("pick_n", 1)]),
    ];
    let mut groups = Vec::new();
    let mut n_tests = 0;
    for (comment, vnodes, shards, ops) in groups_in {
        let ring = Ring::with_shards(vnodes, &shards).expect("ring builds");
        let mut tests = Vec::new();
        for (op, n) in ops {
            for key in &keys {
                n_tests += 1;
                let got = if op == "pick" {
                    ring.pick(key.as_bytes()).map(|s| json!(s))
                } else {
                    ring.pick_n(key.as_bytes(), n).map(|v| json!(v))
                };
                let mut flags = vec![if op == "pick" { "Pick" } else { "PickN" }];
                if shards.iter().any(|s| s.weight > 1) {
                    flags.push("Weight");
                }
                if shards.iter().any(|s| !s.healthy) {
                    flags.push("Unhealthy");
                }
                if *key == example_id {
                    flags.push("PcsIdKey");
                }
                let healthy = shards.iter().filter(|s| s.healthy).count();
                let should_fail = healthy == 0 || (op == "pick_n" && n > healthy);
                assert_eq!(got.is_err(), should_fail, "ring {comment:?} {op} {key:?} {n}");
                if should_fail {
                    flags.push("NoHealthy");
                }
                let what = if op == "pick" { format!("pick({key:?})") } else { format!("pick_n({key:?}, {n})") };
                tests.push(RingTest {
                    tc_id: n_tests,
                    comment: what,
                    flags,
                    op,
                    key: key.clone(),
                    n: (op == "pick_n").then_some(n),
                    error_kind: got.as_ref().err().map(|e| e.kind()),
                    expected: got.ok(),
                    result: if should_fail { "invalid" } else { "valid" },
                });
            }
        }
        groups.push(RingGroup { comment, vnodes, shards, tests });
    }
    file("fractal-lba-ring-v1", RING_NOTES, groups, n_tests)
}
