//! A filesystem that forgets what was not fsynced: a FUSE passthrough
//! over a backing folder that remembers, per file, how to undo every
//! write made since the file's last `fsync`/`fdatasync`. `lose_unsynced`
//! undoes them all — what a machine that lost power would have kept of a
//! page cache it never flushed (Jepsen's LazyFS does the same job; it is
//! not packaged for Debian). Run the database on it, kill the database,
//! lose, start it again.
//!
//! Data is lost; metadata is not: creating, renaming and removing files
//! and folders are durable at once (a file created and never synced
//! comes back empty, as on ext4). That makes the loss smaller than a real
//! crash's, never larger, so a system it catches is really wrong.
//!
//! It is not a general-purpose filesystem: no symlinks, hard links,
//! extended attributes or file times (the servers run on it use none).

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

/// Attributes and names are never cached by the kernel: a loss changes
/// files behind its back.
const TTL: Duration = Duration::ZERO;

/// What a file needs to return to its state at its last sync.
#[derive(Default)]
struct Undo {
    /// Its length then.
    synced_len: u64,
    /// Bytes overwritten since (below `synced_len`), oldest first.
    old: Vec<(u64, Vec<u8>)>,
}

struct Open {
    file: File,
    ino: u64,
    append: bool,
}

struct State {
    backing: PathBuf,
    /// Each inode's path under `backing` ("" for the root).
    paths: HashMap<u64, PathBuf>,
    handles: HashMap<u64, Open>,
    next_fh: u64,
    /// Per inode with writes since its last sync.
    undo: HashMap<u64, Undo>,
}

/// What `lose_unsynced` undid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lost {
    /// Files that lost data.
    pub files: usize,
    /// Bytes cut from their ends.
    pub truncated: u64,
    /// Bytes put back where they had been overwritten.
    pub restored: u64,
}

/// A mounted lossy filesystem; dropping it unmounts it.
pub struct LossyMount {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    _session: fuser::BackgroundSession,
}

impl LossyMount {
    /// Mounts the files of `backing` (created if missing) at `mountpoint`
    /// (likewise). Needs root, or `fusermount3`.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<LossyMount> {
        std::fs::create_dir_all(backing)?;
        std::fs::create_dir_all(mountpoint)?;
        let mut paths = HashMap::new();
        paths.insert(fuser::FUSE_ROOT_ID, PathBuf::new());
        let state = Arc::new(Mutex::new(State {
            backing: backing.to_path_buf(),
            paths,
            handles: HashMap::new(),
            next_fh: 1,
            undo: HashMap::new(),
        }));
        let options = [
            MountOption::FSName("faultline-lossy".into()),
            MountOption::AllowOther,
            MountOption::DefaultPermissions,
        ];
        let session = fuser::spawn_mount2(LossyFs(state.clone()), mountpoint, &options)?;
        Ok(LossyMount {
            state,
            mountpoint: mountpoint.to_path_buf(),
            _session: session,
        })
    }

    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Undoes every write not followed by a sync of its file. Call it
    /// with no process writing (the database killed).
    pub fn lose_unsynced(&self) -> io::Result<Lost> {
        let mut s = lock(&self.state);
        let mut lost = Lost::default();
        for (ino, undo) in std::mem::take(&mut s.undo) {
            // A file removed since has nothing left to lose.
            let Some(rel) = s.paths.get(&ino) else { continue };
            let Ok(file) = OpenOptions::new().write(true).open(s.backing.join(rel)) else {
                continue;
            };
            let len = file.metadata()?.len();
            if len == undo.synced_len && undo.old.is_empty() {
                continue;
            }
            lost.files += 1;
            for (offset, bytes) in undo.old.iter().rev() {
                file.write_all_at(bytes, *offset)?;
                lost.restored += bytes.len() as u64;
            }
            lost.truncated += len.saturating_sub(undo.synced_len);
            file.set_len(undo.synced_len)?;
            file.sync_all()?;
        }
        Ok(lost)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic in a FUSE callback must not wedge the filesystem.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Before bytes `offset..offset+len` of `ino` change (or its length
/// does): keep what a loss would have to put back.
fn remember(undo: &mut HashMap<u64, Undo>, ino: u64, file: &File, offset: u64, len: u64) -> io::Result<()> {
    let now = file.metadata()?.len();
    let undo = undo.entry(ino).or_insert_with(|| Undo {
        synced_len: now,
        old: Vec::new(),
    });
    let end = (offset + len).min(undo.synced_len).min(now);
    if offset < end {
        let mut old = vec![0; (end - offset) as usize];
        file.read_exact_at(&mut old, offset)?;
        undo.old.push((offset, old));
    }
    Ok(())
}

struct LossyFs(Arc<Mutex<State>>);

fn errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn attr(ino: u64, m: &std::fs::Metadata) -> FileAttr {
    let time = |secs: i64, nanos: i64| {
        if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs as u64, nanos as u32)
        } else {
            UNIX_EPOCH
        }
    };
    let kind = if m.is_dir() {
        FileType::Directory
    } else if m.file_type().is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    };
    FileAttr {
        ino,
        size: m.len(),
        blocks: m.blocks(),
        atime: time(m.atime(), m.atime_nsec()),
        mtime: time(m.mtime(), m.mtime_nsec()),
        ctime: time(m.ctime(), m.ctime_nsec()),
        crtime: SystemTime::UNIX_EPOCH,
        kind,
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: m.rdev() as u32,
        blksize: m.blksize() as u32,
        flags: 0,
    }
}

impl State {
    fn path(&self, ino: u64) -> Result<PathBuf, i32> {
        self.paths
            .get(&ino)
            .map(|p| self.backing.join(p))
            .ok_or(libc::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        self.paths.get(&parent).map(|p| p.join(name)).ok_or(libc::ENOENT)
    }

    /// Looks `rel` up in the backing folder and remembers its inode.
    fn entry(&mut self, rel: PathBuf) -> Result<FileAttr, i32> {
        let m = std::fs::symlink_metadata(self.backing.join(&rel)).map_err(errno)?;
        let ino = m.ino();
        self.paths.insert(ino, rel);
        Ok(attr(ino, &m))
    }

    fn chown_to(path: &Path, req: &Request<'_>) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(req.uid()), Some(req.gid()))
    }
}

impl Filesystem for LossyFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let mut s = lock(&self.0);
        match s.child(parent, name).and_then(|rel| s.entry(rel)) {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let s = lock(&self.0);
        match s
            .path(ino)
            .and_then(|p| std::fs::symlink_metadata(p).map_err(errno))
        {
            Ok(m) => reply.attr(&TTL, &attr(ino, &m)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<FileAttr, i32> {
            let path = s.path(ino)?;
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&path, uid, gid).map_err(errno)?;
            }
            if let Some(len) = size {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(errno)?;
                let now = file.metadata().map_err(errno)?.len();
                if len < now {
                    remember(&mut s.undo, ino, &file, len, now - len).map_err(errno)?;
                } else {
                    remember(&mut s.undo, ino, &file, now, 0).map_err(errno)?;
                }
                file.set_len(len).map_err(errno)?;
            }
            let m = std::fs::symlink_metadata(&path).map_err(errno)?;
            Ok(attr(ino, &m))
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<FileAttr, i32> {
            let rel = s.child(parent, name)?;
            let path = s.backing.join(&rel);
            std::fs::DirBuilder::new()
                .mode(mode & !umask & 0o7777)
                .create(&path)
                .map_err(errno)?;
            State::chown_to(&path, req).map_err(errno)?;
            s.entry(rel)
        })();
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<(), i32> {
            let rel = s.child(parent, name)?;
            let ino = std::fs::symlink_metadata(s.backing.join(&rel))
                .map_err(errno)?
                .ino();
            std::fs::remove_file(s.backing.join(&rel)).map_err(errno)?;
            s.undo.remove(&ino);
            s.paths.remove(&ino);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let s = lock(&self.0);
        match s
            .child(parent, name)
            .and_then(|rel| std::fs::remove_dir(s.backing.join(rel)).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<(), i32> {
            if flags != 0 {
                return Err(libc::EINVAL);
            }
            let from = s.child(parent, name)?;
            let to = s.child(newparent, newname)?;
            let moved = std::fs::symlink_metadata(s.backing.join(&from)).map_err(errno)?;
            if let Ok(replaced) = std::fs::symlink_metadata(s.backing.join(&to)) {
                s.undo.remove(&replaced.ino());
                s.paths.remove(&replaced.ino());
            }
            std::fs::rename(s.backing.join(&from), s.backing.join(&to)).map_err(errno)?;
            // Paths below a moved folder move with it.
            for p in s.paths.values_mut() {
                if let Ok(rest) = p.strip_prefix(&from) {
                    *p = to.join(rest);
                }
            }
            s.paths.insert(moved.ino(), to);
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<u64, i32> {
            let path = s.path(ino)?;
            let file = open_backing(&path, flags, None)?;
            Ok(s.add_handle(file, ino, flags))
        })();
        match r {
            Ok(fh) => reply.opened(fh, 0),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<(FileAttr, u64), i32> {
            let rel = s.child(parent, name)?;
            let path = s.backing.join(&rel);
            let existed = path.exists();
            let file = open_backing(&path, flags, Some(mode & !umask & 0o7777))?;
            if !existed {
                State::chown_to(&path, req).map_err(errno)?;
            }
            let a = s.entry(rel)?;
            // A new file has nothing synced yet.
            if !existed {
                s.undo.insert(a.ino, Undo::default());
            }
            let fh = s.add_handle(file, a.ino, flags);
            Ok((a, fh))
        })();
        match r {
            Ok((a, fh)) => reply.created(&TTL, &a, 0, fh, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let s = lock(&self.0);
        let Some(h) = s.handles.get(&fh) else {
            return reply.error(libc::EBADF);
        };
        let mut buf = vec![0; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match h.file.read_at(&mut buf[got..], offset as u64 + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(errno(e)),
            }
        }
        reply.data(&buf[..got]);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut s = lock(&self.0);
        let r = (|| -> io::Result<()> {
            let State { handles, undo, .. } = &mut *s;
            let h = handles
                .get(&fh)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
            let offset = if h.append {
                h.file.metadata()?.len()
            } else {
                offset as u64
            };
            remember(undo, h.ino, &h.file, offset, data.len() as u64)?;
            h.file.write_all_at(data, offset)
        })();
        match r {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.0).handles.remove(&fh);
        reply.ok();
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    /// What is synced stays.
    fn fsync(&mut self, _req: &Request<'_>, ino: u64, fh: u64, datasync: bool, reply: ReplyEmpty) {
        let mut s = lock(&self.0);
        let synced = match s.handles.get(&fh) {
            Some(h) if datasync => h.file.sync_data(),
            Some(h) => h.file.sync_all(),
            None => return reply.error(libc::EBADF),
        };
        match synced {
            Ok(()) => {
                s.undo.remove(&ino);
                reply.ok()
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _datasync: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn readdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let mut s = lock(&self.0);
        let r = (|| -> Result<Vec<(u64, FileType, std::ffi::OsString)>, i32> {
            let rel = s.paths.get(&ino).cloned().ok_or(libc::ENOENT)?;
            let mut out = vec![
                (ino, FileType::Directory, ".".into()),
                (fuser::FUSE_ROOT_ID, FileType::Directory, "..".into()),
            ];
            for e in std::fs::read_dir(s.backing.join(&rel)).map_err(errno)? {
                let e = e.map_err(errno)?;
                let m = e.metadata().map_err(errno)?;
                let kind = if m.is_dir() {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                };
                s.paths.insert(m.ino(), rel.join(e.file_name()));
                out.push((m.ino(), kind, e.file_name()));
            }
            Ok(out)
        })();
        match r {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(ino, i as i64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let s = lock(&self.0);
        let Ok(path) = CString::new(s.backing.as_os_str().as_bytes()) else {
            return reply.error(libc::EINVAL);
        };
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a zeroed struct statvfs fills.
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return reply.error(errno(io::Error::last_os_error()));
        }
        reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        );
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        // Mounted with default_permissions: the kernel has checked.
        reply.ok();
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut s = lock(&self.0);
        let r = (|| -> io::Result<()> {
            let State { handles, undo, .. } = &mut *s;
            let h = handles
                .get(&fh)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
            // Plain allocation only grows the file; other modes may zero
            // what is there.
            let covered = if mode == 0 { 0 } else { length as u64 };
            remember(undo, h.ino, &h.file, offset as u64, covered)?;
            // SAFETY: a valid descriptor, owned by `h`.
            match unsafe { libc::fallocate(h.file.as_raw_fd(), mode, offset, length) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }
}

impl State {
    fn add_handle(&mut self, file: File, ino: u64, flags: i32) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        let append = flags & libc::O_APPEND != 0;
        self.handles.insert(fh, Open { file, ino, append });
        fh
    }
}

/// Opens the backing file as the caller asked, less what the kernel
/// already did (truncation comes as a setattr) and less O_APPEND (the
/// offset is ours to choose, so the undo knows where the bytes went);
/// always readable, for the undo to read what a write replaces.
fn open_backing(path: &Path, flags: i32, create_mode: Option<u32>) -> Result<File, i32> {
    let access = flags & libc::O_ACCMODE;
    let mut o = OpenOptions::new();
    o.read(true)
        .write(access == libc::O_WRONLY || access == libc::O_RDWR)
        .custom_flags(
            flags
                & !(libc::O_ACCMODE
                    | libc::O_APPEND
                    | libc::O_CREAT
                    | libc::O_EXCL
                    | libc::O_TRUNC
                    | libc::O_NOCTTY),
        );
    if let Some(mode) = create_mode {
        o.create(true).mode(mode);
        if flags & libc::O_EXCL != 0 {
            o.create_new(true);
        }
    }
    o.open(path).map_err(errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn root() -> bool {
        nix_is_root() && Path::new("/dev/fuse").exists()
    }

    fn nix_is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn unsynced_writes_are_lost_and_synced_ones_kept() {
        assert!(
            root(),
            "the lossy filesystem's tests mount FUSE: run them as root with /dev/fuse"
        );
        let dir = std::env::temp_dir().join(format!("faultline-lossyfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let m = LossyMount::mount(&dir.join("backing"), &dir.join("mnt")).unwrap();
        let at = |name: &str| m.mountpoint().join(name);

        // Synced, then appended to without a sync.
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(at("log"))
            .unwrap();
        log.write_all(b"kept;").unwrap();
        log.sync_data().unwrap();
        log.write_all(b"lost;").unwrap();
        // Synced, then overwritten in place without a sync.
        let page = File::create(at("page")).unwrap();
        page.write_all_at(b"AAAA", 0).unwrap();
        page.sync_all().unwrap();
        page.write_all_at(b"BB", 1).unwrap();
        // Never synced at all.
        std::fs::create_dir(at("sub")).unwrap();
        std::fs::write(at("sub/fresh"), b"gone").unwrap();
        // Synced under one name, renamed.
        std::fs::write(at("before"), b"moved").unwrap();
        File::open(at("before")).unwrap().sync_all().unwrap();
        std::fs::rename(at("before"), at("after")).unwrap();
        assert_eq!(std::fs::read(at("log")).unwrap(), b"kept;lost;");
        assert_eq!(std::fs::read(at("page")).unwrap(), b"ABBA");
        drop((log, page));

        let lost = m.lose_unsynced().unwrap();
        assert_eq!(std::fs::read(at("log")).unwrap(), b"kept;");
        assert_eq!(std::fs::read(at("page")).unwrap(), b"AAAA");
        assert_eq!(std::fs::read(at("sub/fresh")).unwrap(), b"");
        assert_eq!(std::fs::read(at("after")).unwrap(), b"moved");
        assert_eq!(
            lost,
            Lost {
                files: 3,
                truncated: 5 + 4,
                restored: 2
            }
        );
        // Nothing more to lose.
        assert_eq!(m.lose_unsynced().unwrap(), Lost::default());
        drop(m);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
