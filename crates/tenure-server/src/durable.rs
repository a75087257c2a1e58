//! Files replaced whole and durably: the bytes go to a temporary file beside the target,
//! flushed to disk, renamed over it, and the directory flushed too, so after a crash the file
//! holds either the old bytes or the new, never a mix.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`, durably (see the module's comment).
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Replaces `path` with `value` as JSON, durably.
pub fn replace_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    replace(
        path,
        &serde_json::to_vec(value).map_err(std::io::Error::other)?,
    )
}

/// The JSON in `path`, or the default when there is no such file; unreadable JSON is an error
/// naming the file.
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> std::io::Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_replaced_file_holds_the_new_bytes_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        super::replace(&path, b"old").unwrap();
        super::replace_json(&path, &vec![1, 2]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"[1,2]");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        let read: Vec<i32> = super::read_json_or_default(&path).unwrap();
        assert_eq!(read, [1, 2]);
        let none: Vec<i32> = super::read_json_or_default(&dir.path().join("none.json")).unwrap();
        assert!(none.is_empty());
        super::replace(&path, b"{oops").unwrap();
        let err = super::read_json_or_default::<Vec<i32>>(&path).unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
