//! `--rpc.admin-state`: the sequencer's started/stopped state, as changed over the admin API, persisted across
//! restarts (op-node's config persistence: `{"sequencerStarted": bool}`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, Default)]
struct Persisted {
    #[serde(rename = "sequencerStarted", skip_serializing_if = "Option::is_none")]
    sequencer_started: Option<bool>,
}

/// The state file.
#[derive(Clone, Debug)]
pub struct AdminState {
    path: PathBuf,
}

impl AdminState {
    /// A state file at `path` (not read or created yet).
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }

    /// The persisted started flag: `None` when the file does not exist or says nothing.
    pub fn sequencer_started(&self) -> Result<Option<bool>, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str::<Persisted>(&text)
                .map(|p| p.sequencer_started)
                .map_err(|e| format!("admin state {}: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("admin state {}: {e}", self.path.display())),
        }
    }

    /// Records that the sequencer was started or stopped over the admin API (written atomically).
    pub fn set_sequencer_started(&self, started: bool) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_string(&Persisted { sequencer_started: Some(started) }).expect("plain struct");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("keel-admin-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = AdminState::new(&dir.join("state.json"));
        assert_eq!(s.sequencer_started(), Ok(None));
        s.set_sequencer_started(true).unwrap();
        assert_eq!(s.sequencer_started(), Ok(Some(true)));
        assert_eq!(std::fs::read_to_string(dir.join("state.json")).unwrap(), r#"{"sequencerStarted":true}"#);
        s.set_sequencer_started(false).unwrap();
        assert_eq!(s.sequencer_started(), Ok(Some(false)));
        std::fs::write(dir.join("state.json"), "garbage").unwrap();
        assert!(s.sequencer_started().unwrap_err().contains("state.json"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
