//! Reading the vector files of golden/ (Wycheproof layout) and reporting every
//! disagreeing case at once; shared by the golden suites of the core (each uses part).
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// A vector file under golden/, with its `numberOfTests` checked against its cases.
pub fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../golden").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let count: usize = doc["testGroups"].as_array().expect("testGroups").iter().map(|g| g["tests"].as_array().expect("tests").len()).sum();
    assert_eq!(doc["numberOfTests"].as_u64(), Some(count as u64), "{name}: numberOfTests");
    doc
}

pub fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().expect("testGroups")
}

pub fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("tests")
}

pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

pub fn label(file: &str, t: &Value) -> String {
    format!("{file} #{} ({})", t["tcId"], s(t, "comment"))
}

pub fn finish(file: &str, checked: usize, failures: Vec<String>) {
    assert!(checked > 0, "{file}: no case was checked");
    assert!(failures.is_empty(), "{} of {checked} cases of {file} disagree:\n{}", failures.len(), failures.join("\n"));
}
