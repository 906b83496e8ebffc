//! A crash-simulating storage backend for tests.
//!
//! [`CrashDir`] keeps, for every file, the live bytes and the durable bytes (as of its
//! last `sync_data`), plus the operations since; and for the directory, the live and the
//! durable name table (as of the last directory sync). [`CrashDir::crash`] returns the
//! image a machine could show after a power loss at this instant: durable state plus any
//! subset of the later operations, each write possibly torn to a prefix, chosen by a seed.
//! [`CrashDir::fail_after`] makes the Nth mutating operation fail with an I/O error.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::storage::{Dir, MemDir, Storage};

#[derive(Debug, Clone)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct FileState {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Op>,
}

#[derive(Debug, Default)]
struct DirState {
    next_id: u64,
    files: BTreeMap<u64, Arc<CrashFile>>,
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Faults {
    ops: AtomicU64,
    fail_at: AtomicU64,
}

impl Faults {
    fn tick(&self, what: &str) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.fail_at.load(Ordering::SeqCst);
        if at != 0 && n == at {
            return Err(io::Error::other(format!("injected failure of operation {n} ({what})")));
        }
        Ok(())
    }
}

/// A directory that remembers what is durable; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct CrashDir {
    state: Arc<Mutex<DirState>>,
    faults: Arc<Faults>,
}

/// A file of a [`CrashDir`].
#[derive(Debug)]
pub struct CrashFile {
    state: Mutex<FileState>,
    faults: Arc<Faults>,
}

/// A tiny deterministic generator (splitmix64), so crash images replay from a seed.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

impl CrashDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the `n`th mutating operation from now (1 = the next) fail; 0 disables.
    pub fn fail_after(&self, n: u64) {
        let done = self.faults.ops.load(Ordering::SeqCst);
        self.faults.fail_at.store(if n == 0 { 0 } else { done + n }, Ordering::SeqCst);
    }

    /// Mutating operations performed so far.
    pub fn ops(&self) -> u64 {
        self.faults.ops.load(Ordering::SeqCst)
    }

    /// The image after a power loss now. `seed` picks which unsynced operations reached
    /// the disk and where writes tore; seed 0 keeps exactly the durable state.
    pub fn crash(&self, seed: u64) -> MemDir {
        let st = self.state.lock().expect("crash dir lock");
        let mut rng = SplitMix(seed);
        let mut out = BTreeMap::new();
        // Names: durable table, plus (by chance) unsynced creations and renames.
        let mut names = st.durable.clone();
        if seed != 0 {
            for (name, id) in &st.live {
                if names.get(name) != Some(id) && rng.below(2) == 0 {
                    names.retain(|_, v| v != id);
                    names.insert(name.clone(), *id);
                }
            }
            let gone: Vec<String> = names.keys().filter(|n| !st.live.contains_key(*n)).cloned().collect();
            for n in gone {
                if rng.below(2) == 0 {
                    names.remove(&n);
                }
            }
        }
        for (name, id) in names {
            let f = st.files[&id].state.lock().expect("file lock");
            let mut data = f.durable.clone();
            if seed != 0 {
                for op in &f.pending {
                    match (op, rng.below(3)) {
                        (_, 0) => {}
                        (Op::SetLen(len), _) => data.resize(*len as usize, 0),
                        (Op::Write(pos, bytes), choice) => {
                            let keep = if choice == 1 {
                                bytes.len()
                            } else {
                                rng.below(bytes.len() as u64 + 1) as usize
                            };
                            let end = *pos as usize + keep;
                            if data.len() < end {
                                data.resize(end, 0);
                            }
                            data[*pos as usize..end].copy_from_slice(&bytes[..keep]);
                        }
                    }
                }
            }
            out.insert(name, data);
        }
        MemDir::from_files(out)
    }

    /// The live bytes of every file, as the running process sees them.
    pub fn live(&self) -> BTreeMap<String, Vec<u8>> {
        let st = self.state.lock().expect("crash dir lock");
        st.live
            .iter()
            .map(|(n, id)| (n.clone(), st.files[id].state.lock().expect("file lock").live.clone()))
            .collect()
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Dir for CrashDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state.lock().expect("crash dir lock").live.keys().cloned().collect())
    }
    fn open(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let st = self.state.lock().expect("crash dir lock");
        let id = st.live.get(name).ok_or_else(|| not_found(name))?;
        Ok(st.files[id].clone())
    }
    fn create(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        self.faults.tick("create")?;
        let mut st = self.state.lock().expect("crash dir lock");
        st.next_id += 1;
        let id = st.next_id;
        let f = Arc::new(CrashFile { state: Mutex::default(), faults: self.faults.clone() });
        st.files.insert(id, f.clone());
        st.live.insert(name.to_string(), id);
        Ok(f)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.faults.tick("remove")?;
        let mut st = self.state.lock().expect("crash dir lock");
        st.live.remove(name).map(|_| ()).ok_or_else(|| not_found(name))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.faults.tick("rename")?;
        let mut st = self.state.lock().expect("crash dir lock");
        let id = st.live.remove(from).ok_or_else(|| not_found(from))?;
        st.live.insert(to.to_string(), id);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        self.faults.tick("dir sync")?;
        let mut st = self.state.lock().expect("crash dir lock");
        st.durable = st.live.clone();
        Ok(())
    }
    fn describe(&self, name: &str) -> String {
        format!("crash:{name}")
    }
}

impl Storage for CrashFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.state.lock().expect("file lock").live.len() as u64)
    }
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let st = self.state.lock().expect("file lock");
        let end = pos as usize + buf.len();
        if end > st.live.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&st.live[pos as usize..end]);
        Ok(())
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.faults.tick("write")?;
        let mut st = self.state.lock().expect("file lock");
        let end = pos as usize + buf.len();
        if st.live.len() < end {
            st.live.resize(end, 0);
        }
        st.live[pos as usize..end].copy_from_slice(buf);
        st.pending.push(Op::Write(pos, buf.to_vec()));
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.faults.tick("set_len")?;
        let mut st = self.state.lock().expect("file lock");
        st.live.resize(len as usize, 0);
        st.pending.push(Op::SetLen(len));
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.faults.tick("sync")?;
        let mut st = self.state.lock().expect("file lock");
        st.durable = st.live.clone();
        st.pending.clear();
        Ok(())
    }
    fn map(&self) -> io::Result<Bytes> {
        Ok(Bytes::copy_from_slice(&self.state.lock().expect("file lock").live))
    }
}
