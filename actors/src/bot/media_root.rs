//! Which of the host's files clients may send: only those under `server.media_root`. A mirai
//! `path` or a OneBot `file://` / plain path names a file on the gateway's host; without this
//! check any verified client could probe which paths exist (and, with a real platform behind
//! botgate, have any readable file uploaded). Paths are resolved — symlinks and `..` — before
//! the check, and a path outside the root is refused with the same words whether it exists or
//! not.

use std::path::{Path, PathBuf};

use crate::model::{BotError, Command, Media, Segment};

/// The folder local media may come from; `None`: no local file at all.
#[derive(Debug, Clone, Default)]
pub struct MediaRoot {
    root: Option<PathBuf>,
}

impl MediaRoot {
    /// Local files under `root` (resolved now, so a later symlink swap of the root itself
    /// does not widen it); `None` refuses every local file.
    pub fn new(root: Option<&Path>) -> std::io::Result<Self> {
        let root = root.map(std::fs::canonicalize).transpose()?;
        Ok(MediaRoot { root })
    }

    fn refused(&self) -> BotError {
        BotError::LocalFileRefused(match &self.root {
            None => "local files are not allowed; set server.media_root to the folder clients \
                     may send files from"
                .to_owned(),
            Some(root) => {
                format!("only files under server.media_root ({}) may be sent", root.display())
            }
        })
    }

    /// The file `path` names, resolved, if clients may send it. A relative path is taken
    /// under the root.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, BotError> {
        let Some(root) = &self.root else {
            return Err(self.refused());
        };
        let named = Path::new(path);
        let joined = if named.is_absolute() { named.to_path_buf() } else { root.join(named) };
        match std::fs::canonicalize(&joined) {
            Ok(real) if real.starts_with(root) && real.is_file() => Ok(real),
            Ok(real) if real.starts_with(root) => Err(BotError::FileNotFound(path.to_owned())),
            Ok(_) => Err(self.refused()),
            // It does not exist: say so only if where it would be is inside the root.
            Err(_) => match nearest_existing(&joined) {
                Some(real) if real.starts_with(root) => {
                    Err(BotError::FileNotFound(path.to_owned()))
                }
                _ => Err(self.refused()),
            },
        }
    }

    /// Resolves every local file a command's message names, in place.
    pub fn check_command(&self, command: &mut Command) -> Result<(), BotError> {
        if let Command::SendMessage { message, .. } = command {
            self.check_segments(message)?;
        }
        Ok(())
    }

    fn check_segments(&self, segments: &mut [Segment]) -> Result<(), BotError> {
        for segment in segments {
            match segment {
                Segment::Image(m)
                | Segment::FlashImage(m)
                | Segment::Voice(m)
                | Segment::Video(m) => self.check_media(m)?,
                Segment::Forward(nodes) => {
                    for node in nodes {
                        self.check_segments(&mut node.message)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_media(&self, media: &mut Media) -> Result<(), BotError> {
        // Media with an id or URL is never read from disk.
        if media.id.is_some() || media.url.is_some() {
            media.path = None;
            return Ok(());
        }
        if let Some(path) = media.path.as_deref() {
            media.path = Some(self.resolve(path)?.to_string_lossy().into_owned());
        }
        Ok(())
    }
}

/// The resolved form of the closest ancestor of `path` that exists.
fn nearest_existing(path: &Path) -> Option<PathBuf> {
    path.ancestors().skip(1).find_map(|a| std::fs::canonicalize(a).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, MediaRoot) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("media");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::write(root.join("a.png"), b"png").expect("write");
        std::fs::write(dir.path().join("secret.txt"), b"secret").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.png"))
            .expect("symlink");
        let media = MediaRoot::new(Some(&root)).expect("root");
        (dir, media)
    }

    #[test]
    fn no_root_refuses_every_path_alike() {
        let none = MediaRoot::default();
        let a = none.resolve("/etc/passwd").unwrap_err();
        let b = none.resolve("/no/such/file").unwrap_err();
        assert_eq!(a, b);
        assert!(a.to_string().contains("server.media_root"), "{a}");
    }

    #[test]
    fn only_files_under_the_root_after_resolving_links_and_dots() {
        let (dir, media) = setup();
        let root = dir.path().join("media");
        assert!(media.resolve(root.join("a.png").to_str().unwrap()).is_ok());
        assert!(media.resolve("a.png").is_ok(), "relative paths are under the root");
        let outside = media.resolve("../secret.txt").unwrap_err();
        let missing_outside = media.resolve("../nothing.txt").unwrap_err();
        assert_eq!(outside, missing_outside, "no hint whether an outside file exists");
        assert!(matches!(outside, BotError::LocalFileRefused(_)));
        assert!(matches!(media.resolve("link.png"), Err(BotError::LocalFileRefused(_))));
        assert!(matches!(media.resolve("/etc/passwd"), Err(BotError::LocalFileRefused(_))));
        assert_eq!(media.resolve("b.png"), Err(BotError::FileNotFound("b.png".into())));
    }

    #[test]
    fn media_in_a_forward_is_checked_too() {
        let (_dir, media) = setup();
        let image = Media { path: Some("../secret.txt".into()), ..Media::default() };
        let node = crate::model::ForwardNode {
            sender_id: 1,
            time: 0,
            sender_name: String::new(),
            message: vec![Segment::Image(image)],
        };
        let mut segments = vec![Segment::Forward(vec![node])];
        assert!(media.check_segments(&mut segments).is_err());
    }
}
