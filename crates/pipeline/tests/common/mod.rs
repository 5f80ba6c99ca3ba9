//! Helpers shared by the pipeline's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gentk_pipeline::runner::RunOptions;

/// A small valid spec (two gains of a 4-unit nn.RNN); the tests mutate it line by line.
pub const BASE: &str = include_str!("../../../spec/tests/fixtures/base.toml");

/// A fresh, empty temporary folder for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gentk-pipe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Default run options with results and cache under `root`.
pub fn opts(root: &Path) -> RunOptions {
    RunOptions {
        preset: "cpu".into(),
        force: false,
        results_dir: root.join("results"),
        cache_dir: root.join("cache"),
        progress: gentk_pipeline::runner::Progress::Quiet,
        limits: gentk_spec::Limits::default(),
        shard: None,
    }
}
