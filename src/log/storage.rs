//! The storage seam: every byte the log reads or writes goes through these two traits.
//!
//! Three backends implement them: [`FileDir`] (real files, memory maps for sealed
//! segments), [`MemDir`] (in memory, for model tests) and [`super::crash::CrashDir`]
//! (keeps a live and a durable image and can fail the Nth operation, for crash tests).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// One file of the log: positional reads and writes, length, durability.
#[allow(clippy::len_without_is_empty)] // a file's emptiness is never asked; len is I/O
pub trait Storage: Send + Sync + Debug {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `pos`; fails if the file is shorter.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Writes all of `buf` at `pos`, growing the file if needed.
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Truncates or extends the file to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes every completed write durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// A read-only view of the whole file. Called only for files that no longer change
    /// (sealed segments); the file backend memory-maps them.
    fn map(&self) -> io::Result<Bytes>;
}

/// The directory holding a log's files.
pub trait Dir: Send + Sync + Debug {
    /// Names of the files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>>;
    /// Creates an empty file, replacing any file of that name.
    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>>;
    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Renames a file, replacing the target.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Makes creations, removals and renames durable (fsync of the directory).
    fn sync(&self) -> io::Result<()>;
    /// A human-readable location of `name`, for error messages.
    fn describe(&self, name: &str) -> String;
}

/// A directory on the local file system.
#[derive(Debug)]
pub struct FileDir {
    path: PathBuf,
}

impl FileDir {
    /// Uses `path`, creating it (and its parents) if missing.
    pub fn create_all(path: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(path)?;
        Ok(Self { path: path.to_path_buf() })
    }

    /// Uses an existing directory `path` without creating anything.
    pub fn existing(path: &Path) -> io::Result<Self> {
        if !path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(Self { path: path.to_path_buf() })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Dir for FileDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
        }
        Ok(names)
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let file = OpenOptions::new().read(true).write(true).open(self.path.join(name))?;
        Ok(Arc::new(FileStorage { file }))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path.join(name))?;
        Ok(Arc::new(FileStorage { file }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.path.join(name))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.path.join(from), self.path.join(to))
    }

    fn sync(&self) -> io::Result<()> {
        File::open(&self.path)?.sync_all()
    }

    fn describe(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }
}

/// A file on the local file system.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
}

impl Storage for FileStorage {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.file.write_all_at(buf, pos)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn map(&self) -> io::Result<Bytes> {
        if self.len()? == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: only sealed segments are mapped, and this process never writes to a
        // sealed segment again (it is only read, exported or deleted). The data directory
        // is locked against other dawn processes; a file changed behind our back by
        // another program is outside what the log can defend against.
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        Ok(Bytes::from_owner(map))
    }
}

/// An in-memory directory, for tests and model checks.
#[derive(Debug, Default, Clone)]
pub struct MemDir {
    files: Arc<Mutex<BTreeMap<String, Arc<MemFile>>>>,
}

impl MemDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A directory holding the given files.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Self {
        let map = files.into_iter().map(|(k, v)| (k, Arc::new(MemFile { data: Mutex::new(v) }))).collect();
        Self { files: Arc::new(Mutex::new(map)) }
    }

    /// A copy of every file's bytes.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let files = self.files.lock().expect("memdir lock");
        files.iter().map(|(k, v)| (k.clone(), v.data.lock().expect("file lock").clone())).collect()
    }

    /// Replaces the bytes of `name` (creating it), for corruption tests.
    pub fn put(&self, name: &str, data: Vec<u8>) {
        let mut files = self.files.lock().expect("memdir lock");
        files.insert(name.to_string(), Arc::new(MemFile { data: Mutex::new(data) }));
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Dir for MemDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().expect("memdir lock").keys().cloned().collect())
    }
    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let files = self.files.lock().expect("memdir lock");
        files.get(name).map(|f| f.clone() as Arc<dyn Storage>).ok_or_else(|| not_found(name))
    }
    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let file = Arc::new(MemFile::default());
        self.files.lock().expect("memdir lock").insert(name.to_string(), file.clone());
        Ok(file)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.files.lock().expect("memdir lock").remove(name).map(|_| ()).ok_or_else(|| not_found(name))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut files = self.files.lock().expect("memdir lock");
        let f = files.remove(from).ok_or_else(|| not_found(from))?;
        files.insert(to.to_string(), f);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn describe(&self, name: &str) -> String {
        format!("mem:{name}")
    }
}

/// One in-memory file.
#[derive(Debug, Default)]
pub struct MemFile {
    data: Mutex<Vec<u8>>,
}

impl Storage for MemFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.data.lock().expect("file lock").len() as u64)
    }
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let data = self.data.lock().expect("file lock");
        let start = usize::try_from(pos).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start.checked_add(buf.len()).ok_or(io::ErrorKind::UnexpectedEof)?;
        if end > data.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut data = self.data.lock().expect("file lock");
        let start = pos as usize;
        if data.len() < start + buf.len() {
            data.resize(start + buf.len(), 0);
        }
        data[start..start + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.data.lock().expect("file lock").resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn map(&self) -> io::Result<Bytes> {
        Ok(Bytes::copy_from_slice(&self.data.lock().expect("file lock")))
    }
}
