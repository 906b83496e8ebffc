//! `dawn ipfs …`: kubo's `ipfs add`, `cat`, `get`, `pin` and `repo gc`, with kubo's flags
//! and output, over the repo directory the node passes in (`<data-dir>/ipfs`).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::blockstore::{Blockstore, PinKind};
use super::cid::Cid;
use super::importer::{import_paths, ImportOptions, NullSink, WalkOptions};
use super::reader::{self, Node};

/// An IPFS command.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum IpfsCommand {
    /// Import files or directories as UnixFS and pin them; prints `added <cid> <name>` per
    /// file and directory, as `ipfs add` does. CIDs are identical to kubo's defaults.
    Add(AddArgs),
    /// Write a file's bytes to stdout.
    Cat {
        /// `<cid>[/path]`, optionally prefixed with `/ipfs/`.
        path: String,
    },
    /// Write a file or directory tree to disk.
    Get {
        /// `<cid>[/path]`, optionally prefixed with `/ipfs/`.
        path: String,
        /// Where to write it (default: the CID in the current directory).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Manage pins: pinned DAGs survive garbage collection.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Remove every block not reachable from a pin or an upload; prints `removed <cid>`.
    Gc {
        /// Print nothing but errors.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Check every stored block against its CID; exits non-zero if any is corrupt.
    Verify,
}

/// `dawn ipfs add`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AddArgs {
    /// Files or directories to add.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Add directory paths recursively.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Wrap files with a directory object.
    #[arg(short = 'w', long = "wrap-with-directory")]
    pub wrap: bool,
    /// Include files whose names start with a dot.
    #[arg(short = 'H', long)]
    pub hidden: bool,
    /// Only chunk and hash; write nothing to disk.
    #[arg(short = 'n', long = "only-hash")]
    pub only_hash: bool,
    /// Write only hashes, one a line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write only the final hash.
    #[arg(short = 'Q', long)]
    pub quieter: bool,
    /// CID version: 0 (default) or 1 (implies --raw-leaves).
    #[arg(long = "cid-version", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub cid_version: u8,
    /// Use raw blocks for leaves (default: false for CIDv0, true for CIDv1).
    #[arg(long = "raw-leaves", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub raw_leaves: Option<bool>,
    /// Pin the added roots (default true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pin: bool,
}

/// `dawn ipfs pin …`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum PinCommand {
    /// List pins as `<cid> <type>`.
    Ls {
        /// Which pins: all, recursive, direct or indirect.
        #[arg(short = 't', long = "type", default_value = "all")]
        kind: String,
        /// Print only CIDs.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Pin a CID already stored here (recursively by default: its whole DAG must be here).
    Add {
        /// The CID.
        cid: String,
        /// Pin the whole DAG (false: the block alone).
        #[arg(short = 'r', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
        recursive: bool,
    },
    /// Remove a pin (its blocks go at the next `gc` unless otherwise held).
    Rm {
        /// The CID.
        cid: String,
    },
}

impl AddArgs {
    /// The DAG options these flags select.
    pub fn import_options(&self) -> ImportOptions {
        let mut o = if self.cid_version == 1 { ImportOptions::cid_v1() } else { ImportOptions::default() };
        if let Some(r) = self.raw_leaves {
            o.raw_leaves = r;
        }
        o
    }
}

fn parse_path(p: &str) -> anyhow::Result<(Cid, Vec<String>)> {
    let p = p.strip_prefix("/ipfs/").unwrap_or(p);
    let mut parts = p.split('/').filter(|s| !s.is_empty());
    let cid: Cid = parts.next().context("give a CID")?.parse().context("bad CID")?;
    Ok((cid, parts.map(str::to_string).collect()))
}

fn resolve(store: &Blockstore, p: &str) -> anyhow::Result<Cid> {
    let (cid, segs) = parse_path(p)?;
    let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    Ok(reader::resolve(store, &cid, &refs)?.0)
}

/// Runs `cmd` on the repo at `repo` (created if absent).
pub fn run(cmd: IpfsCommand, repo: &Path) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match cmd {
        IpfsCommand::Add(a) => add(&a, repo, &mut out)?,
        IpfsCommand::Cat { path } => {
            let store = Blockstore::open(repo)?;
            let cid = resolve(&store, &path)?;
            match reader::stat(&store, &cid)? {
                Node::File { size } => {
                    reader::read_file(&store, &cid, 0..size, &mut |b| {
                        out.write_all(&b).map_err(|e| reader::ReadError::Stopped(e.to_string()))
                    })?;
                }
                Node::Directory { .. } => bail!("{path} is a directory; use `dawn ipfs get`"),
                Node::Symlink { target } => bail!("{path} is a symlink to {target:?}"),
            }
        }
        IpfsCommand::Get { path, output } => {
            let store = Blockstore::open(repo)?;
            let cid = resolve(&store, &path)?;
            let dest = output.unwrap_or_else(|| PathBuf::from(cid.to_string()));
            write_tree(&store, &cid, &dest)?;
            writeln!(out, "Saving file(s) to {}", dest.display())?;
        }
        IpfsCommand::Pin(p) => {
            let store = Blockstore::open(repo)?;
            match p {
                PinCommand::Ls { kind, quiet } => pin_ls(&store, &kind, quiet, &mut out)?,
                PinCommand::Add { cid, recursive } => {
                    let c = resolve(&store, &cid)?;
                    store.pin_add(&c, if recursive { PinKind::Recursive } else { PinKind::Direct })?;
                    writeln!(out, "pinned {c} {}", if recursive { "recursively" } else { "directly" })?;
                }
                PinCommand::Rm { cid } => {
                    let c: Cid = cid.parse().context("bad CID")?;
                    store.pin_rm(&c)?;
                    writeln!(out, "unpinned {c}")?;
                }
            }
        }
        IpfsCommand::Gc { quiet } => {
            let store = Blockstore::open(repo)?;
            let r = store.gc()?;
            if !quiet {
                for c in &r.removed {
                    writeln!(out, "removed {c}")?;
                }
            }
        }
        IpfsCommand::Verify => {
            let store = Blockstore::open(repo)?;
            let (n, bad) = store.verify()?;
            for (c, p) in &bad {
                writeln!(out, "corrupt {c} {}", p.display())?;
            }
            out.flush()?;
            if !bad.is_empty() {
                bail!("{} of {n} blocks are corrupt; remove them and re-add their content", bad.len());
            }
            writeln!(out, "verified {n} blocks")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn add(a: &AddArgs, repo: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let opts = a.import_options();
    let walk = WalkOptions { recursive: a.recursive, hidden: a.hidden };
    let mut lines: Vec<String> = Vec::new();
    let mut last = None;
    let print = |name: &str, cid: &Cid, out: &mut dyn Write| -> io::Result<()> {
        if a.quieter {
            return Ok(());
        }
        if a.quiet {
            writeln!(out, "{cid}")
        } else {
            writeln!(out, "added {cid} {name}")
        }
    };
    if a.only_hash {
        let mut sink = NullSink::default();
        let mut err = None;
        import_paths(&a.paths, a.wrap, opts, walk, &mut sink, &mut |ad| {
            last = Some(ad.entry.cid);
            if err.is_none() {
                err = print(&ad.name, &ad.entry.cid, out).err();
            }
        })?;
        if let Some(e) = err {
            return Err(e.into());
        }
    } else {
        let store = Blockstore::open(repo)?;
        let mut staging = store.stage()?;
        let mut roots = Vec::new();
        let top: Vec<String> = a
            .paths
            .iter()
            .map(|p| {
                p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
            })
            .collect();
        import_paths(&a.paths, a.wrap, opts, walk, &mut staging, &mut |ad| {
            last = Some(ad.entry.cid);
            if (a.wrap && ad.name.is_empty()) || (!a.wrap && top.contains(&ad.name)) {
                roots.push(ad.entry.cid);
            }
            lines.push(format!("{} {}", ad.entry.cid, ad.name));
        })?;
        staging.commit()?;
        if a.pin {
            store.update_state(|st| {
                for r in &roots {
                    st.pins.insert(*r, PinKind::Recursive);
                }
                Ok::<_, super::RepoError>(())
            })?;
        }
        drop(staging);
        for l in &lines {
            let (cid, name) = l.split_once(' ').expect("formatted above");
            print(name, &cid.parse().expect("formatted above"), out)?;
        }
    }
    if a.quieter {
        if let Some(c) = last {
            writeln!(out, "{c}")?;
        }
    }
    Ok(())
}

fn pin_ls(store: &Blockstore, kind: &str, quiet: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let st = store.state()?;
    let want = |k: &str| kind == "all" || kind == k;
    if !["all", "recursive", "direct", "indirect"].contains(&kind) {
        bail!("--type must be all, recursive, direct or indirect");
    }
    let mut line = |c: &Cid, k: &str| -> io::Result<()> {
        if quiet {
            writeln!(out, "{c}")
        } else {
            writeln!(out, "{c} {k}")
        }
    };
    for (c, k) in &st.pins {
        let name = if *k == PinKind::Recursive { "recursive" } else { "direct" };
        if want(name) {
            line(c, name)?;
        }
    }
    if want("indirect") {
        let mut direct_keys = std::collections::HashSet::new();
        for c in st.pins.keys() {
            direct_keys.insert(c.store_key());
        }
        let mut indirect = std::collections::BTreeSet::new();
        for (c, k) in &st.pins {
            if *k == PinKind::Recursive {
                store.walk(c, &mut |x, _| {
                    if !direct_keys.contains(&x.store_key()) {
                        indirect.insert(*x);
                    }
                    Ok(())
                })?;
            }
        }
        for c in &indirect {
            line(c, "indirect")?;
        }
    }
    Ok(())
}

/// Writes the DAG at `cid` to `dest` (a file, a directory tree or a symlink).
pub fn write_tree(store: &Blockstore, cid: &Cid, dest: &Path) -> anyhow::Result<()> {
    match reader::stat(store, cid)? {
        Node::File { size } => {
            let mut f = BufWriter::new(
                fs::File::create(dest).with_context(|| format!("creating {}", dest.display()))?,
            );
            reader::read_file(store, cid, 0..size, &mut |b| {
                f.write_all(&b).map_err(|e| reader::ReadError::Stopped(e.to_string()))
            })?;
            f.flush()?;
        }
        Node::Directory { entries } => {
            fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
            for e in entries {
                if e.name.is_empty() || e.name == "." || e.name == ".." || e.name.contains('/') {
                    bail!("directory {cid} has an unsafe entry name {:?}", e.name);
                }
                write_tree(store, &e.cid, &dest.join(&e.name))?;
            }
        }
        Node::Symlink { target } => {
            #[cfg(unix)]
            std::os::unix::fs::symlink(&target, dest)
                .with_context(|| format!("creating {}", dest.display()))?;
            #[cfg(not(unix))]
            bail!("cannot create symlink {} -> {target}", dest.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: IpfsCommand,
    }

    fn parse(args: &[&str]) -> Result<IpfsCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("ipfs").chain(args.iter().copied())).map(|c| c.cmd)
    }

    #[test]
    fn kubo_flags_parse() {
        let IpfsCommand::Add(a) = parse(&["add", "-rQn", "--cid-version", "1", "dir"]).unwrap() else {
            panic!("not add")
        };
        assert!(a.recursive && a.quieter && a.only_hash && a.pin);
        assert_eq!(a.import_options(), ImportOptions::cid_v1());
        let IpfsCommand::Add(a) = parse(&["add", "--cid-version", "1", "--raw-leaves=false", "f"]).unwrap()
        else {
            panic!("not add")
        };
        assert!(!a.import_options().raw_leaves);
        let IpfsCommand::Add(a) = parse(&["add", "--raw-leaves", "--pin=false", "f"]).unwrap() else {
            panic!("not add")
        };
        assert!(a.import_options().raw_leaves && !a.pin);
        assert!(parse(&["add", "--cid-version", "2", "f"]).is_err());
        assert!(parse(&["add"]).is_err());
        assert_eq!(
            parse(&["pin", "add", "--recursive=false", "Qm"]).unwrap(),
            IpfsCommand::Pin(PinCommand::Add { cid: "Qm".into(), recursive: false })
        );
        assert_eq!(
            parse(&["get", "Qm/x", "-o", "out"]).unwrap(),
            IpfsCommand::Get { path: "Qm/x".into(), output: Some("out".into()) }
        );
    }

    #[test]
    fn add_cat_get_pin_gc_on_a_repo() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("ipfs");
        let src = d.path().join("hello.txt");
        fs::write(&src, "Hello Worlds!\n").unwrap();
        let add = |extra: &[&str]| {
            let mut args = vec!["add"];
            args.extend_from_slice(extra);
            let p = src.to_str().unwrap().to_string();
            let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            v.push(p);
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            run(parse(&refs).unwrap(), &repo).unwrap();
        };
        add(&["-n", "-Q"]);
        assert!(Blockstore::open(&repo).unwrap().list().unwrap().is_empty(), "-n stores nothing");
        add(&["-Q"]);
        let store = Blockstore::open(&repo).unwrap();
        // t0040-add-and-cat.sh: "Hello Worlds!\n" is QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH.
        let cid: Cid = "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH".parse().unwrap();
        assert_eq!(store.state().unwrap().pins.get(&cid), Some(&PinKind::Recursive));
        let out = d.path().join("out.txt");
        run(parse(&["get", &format!("/ipfs/{cid}"), "-o", out.to_str().unwrap()]).unwrap(), &repo).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "Hello Worlds!\n");
        run(parse(&["pin", "rm", &cid.to_string()]).unwrap(), &repo).unwrap();
        run(parse(&["gc", "-q"]).unwrap(), &repo).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(run(parse(&["cat", &cid.to_string()]).unwrap(), &repo).is_err());
        run(parse(&["verify"]).unwrap(), &repo).unwrap();
    }
}
