//! WASM contracts on wasmtime: modules compiled once and cached by code hash, a fresh
//! instance per delivery from a pre-linked template on the pooling allocator, fuel as the
//! deterministic CPU meter, linear memory capped at 4 MiB. The host functions are those of
//! docs/CONTRACTS.md; each one calls the matching [`TxCtx`] method, so native and WASM
//! contracts share every rule and cost.
//!
//! Determinism: fuel counts instructions, not time; NaNs are canonicalized; SIMD, threads
//! and other non-deterministic proposals are off. A trap, an exhausted fuel budget or a
//! failed host call fails only the transaction that caused it.

use std::collections::HashMap;
use std::sync::RwLock;

use wasmtime::{
    Caller, Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, Store, Trap, ValType,
};

use crate::chain::{codec, Action, Checksum256, Name};

use super::context::TxCtx;
use super::error::ActionError;
use super::system_rows::DeferredRequest;

/// Most pages (64 KiB) of linear memory a contract may use.
pub const MEMORY_PAGES_MAX: u64 = 64;
/// Most instances alive at once, over all lanes: up to [`STORE_REUSE_MAX`] per thread that
/// runs contracts.
pub const INSTANCES_MAX: u32 = 1024;
/// Fewest instances one lane's pool holds (eight threads' worth).
pub const LANE_INSTANCES_MIN: u32 = 8 * STORE_REUSE_MAX;
/// Most lanes: each gets an equal share of [`INSTANCES_MAX`], at least
/// [`LANE_INSTANCES_MIN`], so the pools together never reserve more address space than one
/// pool of [`INSTANCES_MAX`] (each slot reserves wasmtime's full memory reservation).
pub const LANES_MAX: usize = (INSTANCES_MAX / LANE_INSTANCES_MIN) as usize;
/// Bytes of each pooled memory and table kept mapped between instances.
pub const KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// WASM stack, in bytes.
pub const STACK_BYTES_MAX: usize = 256 << 10;
/// Largest module accepted by `setcode`.
pub const CODE_BYTES_MAX: usize = 4 << 20;

struct HostState {
    /// The context of the running transaction, or null between deliveries.
    /// [`WasmRuntime::call`] sets it, runs one delivery while it holds the `&mut TxCtx` this
    /// points to, and nulls it before it returns; host functions run only inside that call.
    ctx: *mut TxCtx<'static>,
    memory: Option<Memory>,
}

// SAFETY: the pointer is only dereferenced on the thread running `call`, during `call`.
unsafe impl Send for HostState {}

/// A host function's failure, carried through wasmtime back to [`WasmRuntime::call`].
#[derive(Debug)]
struct HostFail(ActionError);

impl std::fmt::Display for HostFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HostFail {}

/// Deliveries run in one store before it is dropped (with its instances, which hold pool
/// slots until then). Each delivery still gets a fresh instance.
pub const STORE_REUSE_MAX: u32 = 16;

/// A thread's store and module handles, reused across deliveries so that the engine and
/// module reference counts shared by all threads are not touched on every call.
struct Local {
    runtime: usize,
    /// The lane whose engine made `store` (and every entry of `modules`).
    lane: usize,
    store: Store<HostState>,
    uses: u32,
    modules: HashMap<Checksum256, InstancePre<HostState>>,
}

thread_local! {
    static LOCAL: std::cell::RefCell<Option<Local>> = const { std::cell::RefCell::new(None) };
    /// This thread's lane: the runtime's id and the lane's index.
    static LANE: std::cell::Cell<Option<(usize, usize)>> = const { std::cell::Cell::new(None) };
}

static RUNTIME_IDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The engine, the host functions and the compiled modules.
pub struct WasmRuntime {
    id: usize,
    /// One engine per core. A thread keeps to one lane, so threads on different cores
    /// share no instance pool and no engine-wide counters (a shared pool's slots and type
    /// registry went back and forth between cores on every delivery).
    lanes: Vec<Lane>,
    /// Lanes handed to threads so far (a thread takes the next one at its first call).
    lanes_taken: std::sync::atomic::AtomicUsize,
}

/// An engine with its instance pool, host functions and loaded modules.
struct Lane {
    engine: Engine,
    linker: Linker<HostState>,
    modules: RwLock<HashMap<Checksum256, InstancePre<HostState>>>,
}

impl std::fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("lanes", &self.lanes.len())
            .field("modules", &self.lanes[0].modules.read().map(|m| m.len()).ok())
            .finish()
    }
}

/// The imports a contract may use: name, parameters, results.
const IMPORTS: &[(&str, &[ValType], &[ValType])] = {
    use ValType::{I32, I64};
    &[
        ("action_data_size", &[], &[I32]),
        ("read_action_data", &[I32, I32], &[I32]),
        ("require_auth", &[I64], &[]),
        ("require_auth2", &[I64, I64], &[]),
        ("has_auth", &[I64], &[I32]),
        ("require_recipient", &[I64], &[]),
        ("is_account", &[I64], &[I32]),
        ("db_get", &[I64, I64, I64, I64, I32, I32], &[I32]),
        ("db_set", &[I64, I64, I64, I32, I32], &[]),
        ("db_remove", &[I64, I64, I64], &[I32]),
        ("db_lowerbound", &[I64, I64, I64, I64, I32], &[I32]),
        ("send_inline", &[I32, I32], &[]),
        ("send_deferred", &[I64, I32, I32, I32], &[]),
        ("cancel_deferred", &[I64], &[]),
        ("current_time", &[], &[I64]),
        ("current_block", &[], &[I64]),
        ("sha256", &[I32, I32, I32], &[]),
        ("eosio_assert", &[I32, I32, I32], &[]),
        ("print", &[I32, I32], &[]),
    ]
};

fn bounds(mem: &[u8], ptr: i32, len: i32) -> Result<std::ops::Range<usize>, ActionError> {
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    match p.checked_add(l) {
        Some(end) if end <= mem.len() => Ok(p..end),
        _ => Err(ActionError::Assert(format!(
            "memory access out of bounds: {l} bytes at {p} in a memory of {} bytes",
            mem.len()
        ))),
    }
}

/// Runs `f` with the transaction context and the instance's memory, keeping the store's
/// fuel and the context's in step (host calls charge the context).
fn host<R>(
    caller: &mut Caller<'_, HostState>,
    f: impl FnOnce(&mut TxCtx<'static>, &mut [u8]) -> Result<R, ActionError>,
) -> wasmtime::Result<R> {
    // SAFETY: see `HostState::ctx`.
    let ctx = unsafe { &mut *caller.data().ctx };
    ctx.fuel_left = caller.get_fuel()?;
    let mem = caller.data().memory.ok_or_else(|| wasmtime::Error::msg("contract exports no memory"))?;
    let r = f(ctx, mem.data_mut(&mut *caller));
    caller.set_fuel(ctx.fuel_left)?;
    r.map_err(|e| wasmtime::Error::new(HostFail(e)))
}

fn name(v: i64) -> Name {
    Name(v as u64)
}

fn add_host_functions(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "action_data_size", |mut c: Caller<'_, HostState>| {
        host(&mut c, |ctx, _| {
            ctx.charge(10)?;
            Ok(ctx.action().data.0.len() as i32)
        })
    })?;
    linker.func_wrap("env", "read_action_data", |mut c: Caller<'_, HostState>, ptr: i32, len: i32| {
        host(&mut c, |ctx, mem| {
            ctx.charge(10 + len.max(0) as u64 / 16)?;
            let data = &ctx.action().data.0;
            let n = (len.max(0) as usize).min(data.len());
            let r = bounds(mem, ptr, n as i32)?;
            mem[r].copy_from_slice(&data[..n]);
            Ok(n as i32)
        })
    })?;
    linker.func_wrap("env", "require_auth", |mut c: Caller<'_, HostState>, a: i64| {
        host(&mut c, |ctx, _| ctx.require_auth(name(a), None))
    })?;
    linker.func_wrap("env", "require_auth2", |mut c: Caller<'_, HostState>, a: i64, p: i64| {
        host(&mut c, |ctx, _| ctx.require_auth(name(a), Some(name(p))))
    })?;
    linker.func_wrap("env", "has_auth", |mut c: Caller<'_, HostState>, a: i64| {
        host(&mut c, |ctx, _| ctx.has_auth(name(a)).map(i32::from))
    })?;
    linker.func_wrap("env", "require_recipient", |mut c: Caller<'_, HostState>, a: i64| {
        host(&mut c, |ctx, _| ctx.require_recipient(name(a)))
    })?;
    linker.func_wrap("env", "is_account", |mut c: Caller<'_, HostState>, a: i64| {
        host(&mut c, |ctx, _| ctx.is_account(name(a)).map(i32::from))
    })?;
    linker.func_wrap(
        "env",
        "db_get",
        |mut c: Caller<'_, HostState>, code: i64, scope: i64, table: i64, id: i64, ptr: i32, len: i32| {
            host(&mut c, |ctx, mem| {
                ctx.charge(len.max(0) as u64 / 16)?;
                let copied = ctx.db_get(name(code), name(scope), name(table), id as u64, |v| {
                    let n = (len.max(0) as usize).min(v.len());
                    let r = bounds(mem, ptr, n as i32)?;
                    mem[r].copy_from_slice(&v[..n]);
                    Ok(v.len() as i32)
                })?;
                copied.unwrap_or(Ok(-1))
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "db_set",
        |mut c: Caller<'_, HostState>, scope: i64, table: i64, id: i64, ptr: i32, len: i32| {
            host(&mut c, |ctx, mem| {
                let r = bounds(mem, ptr, len)?;
                ctx.db_set(name(scope), name(table), id as u64, &mem[r])
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "db_remove",
        |mut c: Caller<'_, HostState>, scope: i64, table: i64, id: i64| {
            host(&mut c, |ctx, _| ctx.db_remove(name(scope), name(table), id as u64).map(i32::from))
        },
    )?;
    linker.func_wrap(
        "env",
        "db_lowerbound",
        |mut c: Caller<'_, HostState>, code: i64, scope: i64, table: i64, id: i64, out: i32| {
            host(&mut c, |ctx, mem| {
                let r = bounds(mem, out, 8)?;
                match ctx.db_lowerbound(name(code), name(scope), name(table), id as u64)? {
                    None => Ok(0),
                    Some(found) => {
                        mem[r].copy_from_slice(&found.to_le_bytes());
                        Ok(1)
                    }
                }
            })
        },
    )?;
    linker.func_wrap("env", "send_inline", |mut c: Caller<'_, HostState>, ptr: i32, len: i32| {
        host(&mut c, |ctx, mem| {
            let r = bounds(mem, ptr, len)?;
            let a: Action = codec::decode(&mem[r], 1 << 20)
                .map_err(|e| ActionError::Inline(format!("send_inline: {e}")))?;
            ctx.send_inline(a)
        })
    })?;
    linker.func_wrap(
        "env",
        "send_deferred",
        |mut c: Caller<'_, HostState>, id: i64, delay: i32, ptr: i32, len: i32| {
            host(&mut c, |ctx, mem| {
                let r = bounds(mem, ptr, len)?;
                let req: DeferredRequest = codec::decode(&mem[r], 1 << 20)
                    .map_err(|e| ActionError::Deferred(format!("send_deferred: {e}")))?;
                let delay = u32::try_from(delay)
                    .map_err(|_| ActionError::Deferred(format!("send_deferred: negative delay {delay}")))?;
                ctx.send_deferred(id as u64, delay, req)
            })
        },
    )?;
    linker.func_wrap("env", "cancel_deferred", |mut c: Caller<'_, HostState>, id: i64| {
        host(&mut c, |ctx, _| ctx.cancel_deferred(id as u64))
    })?;
    linker.func_wrap("env", "current_time", |mut c: Caller<'_, HostState>| {
        host(&mut c, |ctx, _| {
            ctx.charge(10)?;
            Ok(ctx.block.time.0 as i64)
        })
    })?;
    linker.func_wrap("env", "current_block", |mut c: Caller<'_, HostState>| {
        host(&mut c, |ctx, _| {
            ctx.charge(10)?;
            Ok(i64::from(ctx.block.num.0))
        })
    })?;
    linker.func_wrap("env", "sha256", |mut c: Caller<'_, HostState>, ptr: i32, len: i32, out: i32| {
        host(&mut c, |ctx, mem| {
            ctx.charge(50 + len.max(0) as u64 / 16)?;
            let r = bounds(mem, ptr, len)?;
            let h = Checksum256::hash(&mem[r]);
            let o = bounds(mem, out, 32)?;
            mem[o].copy_from_slice(&h.0);
            Ok(())
        })
    })?;
    linker.func_wrap(
        "env",
        "eosio_assert",
        |mut c: Caller<'_, HostState>, test: i32, ptr: i32, len: i32| {
            host(&mut c, |ctx, mem| {
                ctx.charge(10)?;
                if test != 0 {
                    return Ok(());
                }
                let r = bounds(mem, ptr, len.min(1024))?;
                Err(ActionError::Assert(String::from_utf8_lossy(&mem[r]).into_owned()))
            })
        },
    )?;
    linker.func_wrap("env", "print", |mut c: Caller<'_, HostState>, ptr: i32, len: i32| {
        host(&mut c, |ctx, mem| {
            let r = bounds(mem, ptr, len)?;
            let text = String::from_utf8_lossy(&mem[r]).into_owned();
            ctx.print(&text)
        })
    })?;
    Ok(())
}

impl Lane {
    /// An engine whose pool holds this lane's share of [`INSTANCES_MAX`] (`lanes` is at
    /// most [`LANES_MAX`], so the share is at least [`LANE_INSTANCES_MIN`]).
    fn new(lanes: usize) -> Result<Self, String> {
        let instances = INSTANCES_MAX / lanes as u32;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(instances)
            .total_memories(instances)
            .total_tables(instances)
            .max_memory_size((MEMORY_PAGES_MAX << 16) as usize)
            .table_elements(4096)
            // Reset a finished instance's first pages with memset rather than returning them
            // to the kernel: an action touches few pages, and madvise plus the page faults
            // that follow cost more than the instance itself.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            .wasm_multi_memory(false)
            .max_wasm_stack(STACK_BYTES_MAX)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        let mut linker = Linker::new(&engine);
        add_host_functions(&mut linker).map_err(|e| e.to_string())?;
        Ok(Self { engine, linker, modules: RwLock::new(HashMap::new()) })
    }
}

impl WasmRuntime {
    /// Starts the engines, one per core.
    pub fn new() -> Result<Self, String> {
        Self::with_lanes(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Starts `lanes` engines (at least one, at most [`LANES_MAX`]); threads are spread
    /// over them round robin.
    pub fn with_lanes(lanes: usize) -> Result<Self, String> {
        let count = lanes.clamp(1, LANES_MAX);
        let lanes = (0..count).map(|_| Lane::new(count)).collect::<Result<Vec<_>, _>>()?;
        let id = RUNTIME_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self { id, lanes, lanes_taken: Default::default() })
    }

    /// The calling thread's lane, taken at its first call (round robin).
    fn lane(&self) -> usize {
        match LANE.get() {
            Some((runtime, lane)) if runtime == self.id => lane,
            _ => {
                let lane =
                    self.lanes_taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.lanes.len();
                LANE.set(Some((self.id, lane)));
                lane
            }
        }
    }

    /// The pre-linked module `hash` on `lane` (every lane has every validated module).
    fn module(&self, lane: usize, hash: &Checksum256) -> Option<InstancePre<HostState>> {
        self.lanes[lane].modules.read().expect("module cache").get(hash).cloned()
    }

    /// Compiles and checks a module as `setcode` requires (imports only from the host API
    /// with its exact types, an `apply(i64, i64, i64)` and a `memory` export, at most
    /// [`MEMORY_PAGES_MAX`] pages), and caches it by its hash.
    pub fn validate(&self, code: &[u8]) -> Result<Checksum256, String> {
        if code.len() > CODE_BYTES_MAX {
            return Err(format!("{} bytes; the limit is {CODE_BYTES_MAX}", code.len()));
        }
        let hash = Checksum256::hash(code);
        if self.is_loaded(&hash) {
            return Ok(hash);
        }
        let lane = &self.lanes[0];
        let module = Module::new(&lane.engine, code).map_err(|e| format!("{e:#}"))?;
        for imp in module.imports() {
            let ok = imp.module() == "env"
                && IMPORTS.iter().any(|(n, params, results)| {
                    *n == imp.name()
                        && matches!(imp.ty(), ExternType::Func(f)
                            if f.params().map(|p| p.to_string()).eq(params.iter().map(|p| p.to_string()))
                            && f.results().map(|p| p.to_string()).eq(results.iter().map(|p| p.to_string())))
                });
            if !ok {
                return Err(format!(
                    "import {}::{} is not part of the host API (docs/CONTRACTS.md) or has the wrong type",
                    imp.module(),
                    imp.name()
                ));
            }
        }
        match module.get_export("apply") {
            Some(ExternType::Func(f))
                if f.params().map(|p| p.to_string()).eq(["i64", "i64", "i64"].map(String::from))
                    && f.results().len() == 0 => {}
            _ => return Err("the module must export apply(i64, i64, i64)".into()),
        }
        match module.get_export("memory") {
            Some(ExternType::Memory(m)) if m.minimum() <= MEMORY_PAGES_MAX && !m.is_64() => {}
            Some(ExternType::Memory(m)) => {
                return Err(format!("memory of {} pages; the limit is {MEMORY_PAGES_MAX}", m.minimum()))
            }
            _ => return Err("the module must export its memory as \"memory\"".into()),
        }
        // Compiled once; the other lanes load the compiled form. Every lane gets the module
        // here, before any transaction runs it, so a lane that cannot load it fails
        // `setcode` (or the node's start) rather than some transactions.
        let bytes = module.serialize().map_err(|e| format!("{e:#}"))?;
        let mut pres = vec![lane.linker.instantiate_pre(&module).map_err(|e| format!("{e:#}"))?];
        for other in &self.lanes[1..] {
            // SAFETY: the bytes are `Module::serialize` output of a module this runtime just
            // compiled, on an engine with the same configuration, and never left memory.
            let m = unsafe { Module::deserialize(&other.engine, &bytes) }.map_err(|e| format!("{e:#}"))?;
            pres.push(other.linker.instantiate_pre(&m).map_err(|e| format!("{e:#}"))?);
        }
        for (lane, pre) in self.lanes.iter().zip(pres) {
            lane.modules.write().expect("module cache").insert(hash, pre);
        }
        Ok(hash)
    }

    /// Is the module with this hash compiled?
    pub fn is_loaded(&self, hash: &Checksum256) -> bool {
        self.lanes[0].modules.read().expect("module cache").contains_key(hash)
    }

    /// Runs the current delivery of `ctx` on the module `hash` (compiled by
    /// [`WasmRuntime::validate`]).
    pub fn call(&self, ctx: &mut TxCtx<'_>, hash: &Checksum256) -> Result<(), ActionError> {
        let contract = ctx.receiver();
        let code = ctx.action().account;
        let action = ctx.action().name;
        let lane = self.lane();
        let mut local = LOCAL
            .with(|l| l.borrow_mut().take())
            .filter(|l| l.runtime == self.id && l.lane == lane && l.uses < STORE_REUSE_MAX)
            .unwrap_or_else(|| Local {
                runtime: self.id,
                lane,
                store: Store::new(
                    &self.lanes[lane].engine,
                    HostState { ctx: std::ptr::null_mut(), memory: None },
                ),
                uses: 0,
                modules: HashMap::new(),
            });
        let pre = match local.modules.get(hash) {
            Some(p) => Some(p.clone()),
            None => {
                let p = self.module(lane, hash);
                if let Some(p) = &p {
                    local.modules.insert(*hash, p.clone());
                }
                p
            }
        };
        let Some(pre) = pre else {
            LOCAL.with(|l| *l.borrow_mut() = Some(local));
            return Err(ActionError::Trap { contract, detail: format!("code {hash} is not loaded") });
        };
        local.uses += 1;
        let store = &mut local.store;
        store.data_mut().ctx = (ctx as *mut TxCtx<'_>).cast::<TxCtx<'static>>();
        store.data_mut().memory = None;
        store.set_fuel(ctx.fuel_left).expect("fuel is enabled");
        let result = (|| {
            let instance = pre.instantiate(&mut *store)?;
            let memory = instance
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| wasmtime::Error::msg("the module exports no memory"))?;
            store.data_mut().memory = Some(memory);
            let apply = instance.get_typed_func::<(i64, i64, i64), ()>(&mut *store, "apply")?;
            apply.call(&mut *store, (contract.0 as i64, code.0 as i64, action.0 as i64))
        })();
        let left = store.get_fuel().unwrap_or(0);
        // The context pointer is valid only during this call.
        store.data_mut().ctx = std::ptr::null_mut();
        store.data_mut().memory = None;
        ctx.fuel_left = left;
        LOCAL.with(|l| *l.borrow_mut() = Some(local));
        result.map_err(|e| {
            if let Some(HostFail(a)) = e.downcast_ref::<HostFail>() {
                return a.clone();
            }
            if matches!(e.downcast_ref::<Trap>(), Some(Trap::OutOfFuel)) || left == 0 {
                return ActionError::CpuExceeded { limit_us: ctx.fuel_limit_us() };
            }
            ActionError::Trap { contract, detail: format!("{e:#}") }
        })
    }
}
