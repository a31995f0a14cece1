//! The map family with a chunk size ([`Chunked`]), and how a call of it becomes a job: all of
//! its chunks at once (`map`, `starmap`), or a window of them at a time (`imap`).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::arena::{Lease, ResultArea};
use crate::chunk::default_chunksize;
use crate::result::{IMap, ImapSink, MapResult, MapSink};
use crate::task::{arena_star_trampoline, arena_trampoline, star_trampoline, trampoline, StarFn};
use crate::wire::encode_args;
use crate::{Pool, PoolError, Wire};

/// `imap` keeps at most this many chunks per worker submitted and not yet read: enough to keep
/// every worker busy, few enough that an endless iterator runs in bounded memory.
const IMAP_CHUNKS_PER_WORKER: usize = 4;

/// A map task's two trampolines: for chunks in the pool's format, and for chunks of plain data
/// in the shared arena (`arena.rs`).
struct Runs {
    ordinary: usize,
    arena: usize,
}

/// The map family with a chosen chunk size; made by [`Pool::chunksize`].
#[derive(Clone, Copy)]
pub struct Chunked<'p> {
    pub(crate) pool: &'p Pool,
    /// `None`: the defaults.
    pub(crate) size: Option<usize>,
}

impl<'p> Chunked<'p> {
    /// [`Pool::map`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::map`].
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Wire,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items)?.get()
    }

    /// [`Pool::map_async`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::map_async`].
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<MapResult<'p, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Wire,
        I: IntoIterator<Item = A>,
    {
        let run = Runs {
            ordinary: trampoline(f),
            arena: arena_trampoline(f),
        };
        self.pool.map_job(run, items.into_iter().collect(), self.size)
    }

    /// [`Pool::starmap`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::starmap`].
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Wire,
        I: IntoIterator<Item = Args>,
    {
        self.starmap_async(f, items)?.get()
    }

    /// [`Pool::starmap_async`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::starmap_async`].
    pub fn starmap_async<F, Args, R, I>(&self, f: F, items: I) -> Result<MapResult<'p, R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Wire,
        I: IntoIterator<Item = Args>,
    {
        let run = Runs {
            ordinary: star_trampoline(f),
            arena: arena_star_trampoline(f),
        };
        self.pool.map_job(run, items.into_iter().collect(), self.size)
    }

    /// [`Pool::imap`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    pub fn imap<F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Wire,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let run = trampoline(f);
        self.pool
            .imap_job(run, Box::new(items.into_iter()), self.size.unwrap_or(1), true)
    }

    /// [`Pool::imap_unordered`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    pub fn imap_unordered<F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Wire,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let run = trampoline(f);
        self.pool
            .imap_job(run, Box::new(items.into_iter()), self.size.unwrap_or(1), false)
    }
}

impl Pool {
    /// A `map` or `starmap` job: `items` cut into chunks of `chunksize` (default: Python's
    /// formula), all submitted at once. When the result type is a primitive and every item a
    /// plain record of one shape (`plain.rs`), through the shared arena if it is free
    /// (`arena.rs`): no per-item work of the pool's format on either side, and only one-byte
    /// replies on the result queue.
    fn map_job<A: Serialize, R>(
        &self,
        run: Runs,
        items: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<'_, R>, PoolError>
    where
        R: DeserializeOwned + Send + 'static,
    {
        let n = items.len();
        let size = chunksize.unwrap_or_else(|| default_chunksize(n, self.processes));
        let size = size.max(1);
        if let Some(kind) = crate::plain::kind_of::<R>() {
            // A job that finds the arena taken (another map still running) goes on below.
            if let Some(lease) = Lease::take(&self.shared) {
                if let Some((at, chunks)) = crate::arena::encode_job(&lease, &items, size, kind) {
                    let area = ResultArea { lease, at, kind };
                    let sink = MapSink::<R>::with_arena(n, area);
                    let job = self.submit(run.arena, chunks, Box::new(sink), false)?;
                    self.count_path(0);
                    return Ok(MapResult::new(self, job));
                }
            }
        }
        // Encode every chunk before sending any: an argument that does not serialize fails the
        // call and leaves nothing half-submitted.
        let chunks = items
            .chunks(size)
            .enumerate()
            .map(|(i, chunk)| Ok((i * size, chunk.len(), encode_args(chunk)?)))
            .collect::<Result<Vec<_>, PoolError>>()?;
        let job = self.submit(run.ordinary, chunks, Box::new(MapSink::<R>::new(n)), false)?;
        self.count_path(1);
        Ok(MapResult::new(self, job))
    }

    /// An `imap` job: an open stream, fed from `source` as its results are read.
    fn imap_job<'p, A: Serialize, R>(
        &'p self,
        run: usize,
        source: Box<dyn Iterator<Item = A> + 'p>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMap<'p, A, R>, PoolError>
    where
        R: DeserializeOwned + Send + 'static,
    {
        let job = self.submit(run, Vec::new(), Box::new(ImapSink::<R>::new(ordered)), true)?;
        let window = IMAP_CHUNKS_PER_WORKER * self.processes * chunksize;
        let mut it = IMap::new(self, job, run, source, chunksize, window);
        it.refill();
        Ok(it)
    }
}
