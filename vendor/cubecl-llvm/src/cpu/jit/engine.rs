use super::{data::PlironData, object_cache};
use crate::{
    cpu::shared_memory::SharedMemories,
    prelude::{Context, ModuleOp},
    shared::llvm_module::{LlvmModule, TargetMachine},
};
use cubecl_runtime::kernel::BufferIOAttr;
use llvm_sys::{
    core::LLVMCreateMemoryBufferWithMemoryRangeCopy,
    error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage},
    orc2::{
        LLVMJITEvaluatedSymbol, LLVMJITSymbolFlags, LLVMJITSymbolGenericFlags,
        LLVMOrcAbsoluteSymbols, LLVMOrcCSymbolMapPair, LLVMOrcDisposeMaterializationUnit,
        LLVMOrcJITDylibDefine,
        lljit::{
            LLVMOrcCreateLLJIT, LLVMOrcDisposeLLJIT, LLVMOrcLLJITAddObjectFile,
            LLVMOrcLLJITGetMainJITDylib, LLVMOrcLLJITLookup, LLVMOrcLLJITMangleAndIntern,
            LLVMOrcLLJITRef,
        },
    },
    target_machine::{
        LLVMCodeGenFileType, LLVMGetDefaultTargetTriple, LLVMGetHostCPUFeatures, LLVMGetHostCPUName,
    },
};
use pliron_llvm::{
    llvm_sys::{core::LLVMContext, target::initialize_native},
    to_llvm_ir,
};
use std::{
    ffi::{CStr, CString, c_void},
    fmt::Display,
    sync::{Arc, Mutex, Once, OnceLock, mpsc},
};

/// Kernel ABI: buffer pointers, cube count x/y/z, unit position x/y/z,
/// barrier state, metadata.
type KernelFn = extern "C" fn(*mut *mut c_void, u32, u32, u32, u32, u32, u32, *mut u32, *mut u64);

/// Resources and scheduling required for a launch.
#[derive(Clone, Debug, Default)]
pub struct KernelRequirements {
    /// Cube barriers require a separate thread for each unit.
    pub needs_parallelism: bool,
    /// Shared memory required for a launch.
    pub shared_memories: SharedMemories,
}

/// A compiled kernel and its owning JIT.
struct JitKernel {
    /// The linked kernel, once its object is compiled and linked (kiln's change: a kernel
    /// missing from the object cache is compiled on a background thread, see
    /// [`compile_in_background`]).
    linked: OnceLock<Linked>,
    requirements: KernelRequirements,
    /// Buffer access modes in binding order.
    io: Vec<BufferIOAttr>,
    /// The kernel's symbol in its object.
    symbol: String,
    /// The object's entry in the kernel cache, if the cache is on: where the object is, or
    /// will be once compiled.
    object_entry: Option<String>,
}

/// A kernel's entry point and the JIT that owns its code.
struct Linked {
    func: KernelFn,
    _jit: ObjectJit,
}

/// SAFETY: Compiled code is immutable and its JIT owns the context.
unsafe impl Send for JitKernel {}
unsafe impl Sync for JitKernel {}

#[derive(Clone)]
pub struct PlironEngine(Arc<JitKernel>);

static INIT_NATIVE: Once = Once::new();

impl PlironEngine {
    pub fn compile(
        ctx: &Context,
        module: ModuleOp,
        kernel_name: &str,
        requirements: KernelRequirements,
        io: Vec<BufferIOAttr>,
    ) -> pliron::result::Result<Self> {
        INIT_NATIVE.call_once(|| {
            initialize_native().expect("failed to initialize native target");
        });

        // The LLVM IR before optimization is the cache key's core: the same IR compiles to
        // the same object on the same host (kiln's change, see `object_cache`).
        let ir = {
            let llvm_ctx = LLVMContext::default();
            let llvm_module = to_llvm_ir::convert_module(ctx, &llvm_ctx, module)?;
            llvm_module.to_string()
        };
        #[cfg(feature = "pliron-dump")]
        if let Some(dir) = ir_dump_path(kernel_name) {
            let _ = std::fs::write(dir.join("llvm.ll"), &ir);
        }
        let key = format!("{}\n{ir}", host_description());
        let engine = PlironEngine(Arc::new(JitKernel {
            linked: OnceLock::new(),
            requirements,
            io,
            symbol: kernel_name.to_string(),
            object_entry: object_cache::object_entry(&key),
        }));
        // kiln's change: the caller goes on to its next kernel while LLVM optimizes and
        // compiles this one on another thread; the first run of the kernel waits for it.
        let compiling = engine.clone();
        compile_in_background(Box::new(move || {
            let name = compiling.symbol();
            let linked = object_cache::object_for(&key, || compile_object(&ir, name))
                .map_err(|err| format!("LLVM compilation failed for '{name}': {err}"))
                .and_then(|(object, _)| {
                    Linked::load(&object, name)
                        .map_err(|err| format!("cannot load the object of '{name}': {err}"))
                });
            match linked {
                Ok(linked) => {
                    let _ = compiling.0.linked.set(linked);
                }
                // Nothing waiting for the kernel could go on without it.
                Err(message) => {
                    eprintln!("{message}");
                    std::process::abort();
                }
            }
        }));
        Ok(engine)
    }

    /// The kernel whose object is the cache entry `object_entry` (kiln's change, see
    /// `kernel_index`), or `None` if the entry is gone or damaged.
    pub(crate) fn from_cached_object(
        object_entry: &str,
        kernel_name: &str,
        requirements: KernelRequirements,
        io: Vec<BufferIOAttr>,
    ) -> Option<Self> {
        INIT_NATIVE.call_once(|| {
            initialize_native().expect("failed to initialize native target");
        });
        let object = object_cache::object_named(object_entry)?;
        let entry = Some(object_entry.to_string());
        Self::link(&object, entry, kernel_name, requirements, io).ok()
    }

    /// Links `object` in a JIT of its own and finds the kernel's entry point in it.
    fn link(
        object: &[u8],
        object_entry: Option<String>,
        kernel_name: &str,
        requirements: KernelRequirements,
        io: Vec<BufferIOAttr>,
    ) -> Result<Self, String> {
        let linked = Linked::load(object, kernel_name)?;
        Ok(PlironEngine(Arc::new(JitKernel {
            linked: OnceLock::from(linked),
            requirements,
            io,
            symbol: kernel_name.to_string(),
            object_entry,
        })))
    }

    /// The kernel's symbol in its object.
    pub(crate) fn symbol(&self) -> &str {
        &self.0.symbol
    }

    /// The name of the object's kernel cache entry, if it has one.
    pub(crate) fn object_entry(&self) -> Option<&str> {
        self.0.object_entry.as_deref()
    }

    pub fn requirements(&self) -> &KernelRequirements {
        &self.0.requirements
    }

    /// Buffer access modes in binding order.
    pub fn buffer_io(&self) -> &[BufferIOAttr] {
        &self.0.io
    }

    pub fn run_kernel(&self, data: &mut PlironData) {
        let func = self.0.linked.wait().func;
        let b = data.builtins;
        let buffer_ptrs = data.shared.buffer_ptrs.as_ptr() as *mut *mut c_void;
        let metadata = data.shared.metadata.as_ptr() as *mut u64;
        let sync_cube_state = data.shared.sync_cube_state.as_ptr() as *mut u32;
        func(
            buffer_ptrs,
            b[0],
            b[1],
            b[2],
            b[3],
            b[4],
            b[5],
            sync_cube_state,
            metadata,
        );
    }
}

impl Display for PlironEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Pliron JIT engine")
    }
}

#[cfg(feature = "pliron-dump")]
/// IR dump directory, enabled by `CUBECL_DEBUG_PLIRON`.
pub(crate) fn ir_dump_path(kernel_name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var("CUBECL_DEBUG_PLIRON").ok()?;
    let path = std::path::Path::new(&dir).join(kernel_name);
    std::fs::create_dir_all(&path).ok()?;
    Some(path)
}

/// Optimization pipeline for JIT compilation. kiln's patch: O2, not upstream's O3. The
/// kernels' vectors are explicit, and O2 compiles a cold start's kernels about 10% sooner with
/// train steps no slower (vendor/README.md, "O2").
const PASS_PIPELINE: &CStr = c"default<O2>";

/// What the object code depends on besides the IR: this crate (and kiln's patch of it), LLVM,
/// and the host's triple, CPU and features.
pub(crate) fn host_description() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(describe_host)
}

fn describe_host() -> String {
    // SAFETY: each query returns an LLVM message we own; it is copied, then disposed.
    let (triple, cpu, features) = unsafe {
        let take = |message: *mut std::ffi::c_char| {
            let owned = CStr::from_ptr(message).to_string_lossy().into_owned();
            llvm_sys::core::LLVMDisposeMessage(message);
            owned
        };
        (
            take(LLVMGetDefaultTargetTriple()),
            take(LLVMGetHostCPUName()),
            take(LLVMGetHostCPUFeatures()),
        )
    };
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: plain out-parameters.
    unsafe { llvm_sys::core::LLVMGetVersion(&mut major, &mut minor, &mut patch) };
    format!(
        "cubecl-llvm {} kiln-object-cache 1; llvm {major}.{minor}.{patch}; {triple}; {cpu}; {features}; {}",
        env!("CARGO_PKG_VERSION"),
        PASS_PIPELINE.to_string_lossy()
    )
}

/// Optimizes `ir` and compiles it to an object for the host, as LLJIT would.
#[cfg_attr(not(feature = "pliron-dump"), allow(unused_variables))]
fn compile_object(ir: &str, kernel_name: &str) -> Result<Vec<u8>, String> {
    let module = LlvmModule::new(ir)?;
    let machine = TargetMachine::native(&module)?;
    module.run_passes(PASS_PIPELINE, &machine)?;
    #[cfg(feature = "pliron-dump")]
    if let Some(dir) = ir_dump_path(kernel_name) {
        let _ = std::fs::write(dir.join("llvm.opt.ll"), module.print());
    }
    TargetMachine::host_jit()?.emit(module, LLVMCodeGenFileType::LLVMObjectFile)
}

impl Linked {
    /// `object` linked in a JIT of its own, with the kernel's entry point `name` found in it.
    fn load(object: &[u8], name: &str) -> Result<Self, String> {
        let jit = ObjectJit::load(object, name)?;
        let addr = jit.lookup(name)?;
        // SAFETY: The generated entry point matches `KernelFn`.
        let func: KernelFn = unsafe { std::mem::transmute::<u64, KernelFn>(addr) };
        Ok(Linked { func, _jit: jit })
    }
}

/// Runs `job` on one of a few threads (one per CPU) that compile kernels' objects (kiln's
/// change). On a cold kernel cache, LLVM's optimization and code generation are most of a
/// model's start; the caller's thread meanwhile expands and lowers the next kernels.
fn compile_in_background(job: Box<dyn FnOnce() + Send>) {
    type Job = Box<dyn FnOnce() + Send>;
    static JOBS: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("kernel-compile-{i}"))
                .spawn(move || {
                    loop {
                        let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                })
                .expect("cannot start a kernel compilation thread");
        }
        Mutex::new(sender)
    });
    let sent = jobs.lock().unwrap_or_else(|e| e.into_inner()).send(job);
    sent.expect("the kernel compilation threads run as long as the process");
}

/// An LLJIT holding one linked object (kiln's change: upstream adds the IR module and lets
/// LLJIT compile it, which leaves nothing to cache).
struct ObjectJit(LLVMOrcLLJITRef);

impl ObjectJit {
    /// A JIT with the host's default setup (JITLink, the process's symbols) and `object`
    /// added to its main library.
    fn load(object: &[u8], name: &str) -> Result<Self, String> {
        let name = CString::new(name).map_err(|err| err.to_string())?;
        // SAFETY: LLJIT takes ownership of the buffer, which copies `object`; the JIT is
        // owned by the returned value, which disposes it once.
        unsafe {
            let mut jit = std::ptr::null_mut();
            check(LLVMOrcCreateLLJIT(&mut jit, std::ptr::null_mut()))?;
            let jit = ObjectJit(jit);
            jit.define_runtime_functions()?;
            let buffer = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                object.as_ptr() as *const _,
                object.len(),
                name.as_ptr(),
            );
            check(LLVMOrcLLJITAddObjectFile(
                jit.0,
                LLVMOrcLLJITGetMainJITDylib(jit.0),
                buffer,
            ))?;
            Ok(jit)
        }
    }

    /// Defines in the JIT's main library the compiler-rt functions kernels may call that no
    /// library of the process exports (kiln's change). Without AVX512_BF16, LLVM promotes bf16
    /// values to f32 for a phi, a select or a cast and calls `__truncsfbf2` (or `__truncdfbf2`)
    /// to narrow them back, so a kernel that moves bf16 values failed to link.
    fn define_runtime_functions(&self) -> Result<(), String> {
        let functions: [(&CStr, u64); 2] = [
            (c"__truncsfbf2", truncsfbf2 as extern "C" fn(f32) -> f32 as u64),
            (c"__truncdfbf2", truncdfbf2 as extern "C" fn(f64) -> f32 as u64),
        ];
        let flags = || LLVMJITSymbolFlags {
            GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported as u8
                | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
            TargetFlags: 0,
        };
        // SAFETY: the JIT is live; each interned name is retained for `LLVMOrcAbsoluteSymbols`,
        // which takes them, and the unit is disposed here unless the library took it.
        unsafe {
            let mut symbols: Vec<LLVMOrcCSymbolMapPair> = functions
                .iter()
                .map(|&(name, address)| LLVMOrcCSymbolMapPair {
                    Name: LLVMOrcLLJITMangleAndIntern(self.0, name.as_ptr()),
                    Sym: LLVMJITEvaluatedSymbol { Address: address, Flags: flags() },
                })
                .collect();
            let unit = LLVMOrcAbsoluteSymbols(symbols.as_mut_ptr(), symbols.len());
            let defined = check(LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(self.0), unit));
            if defined.is_err() {
                LLVMOrcDisposeMaterializationUnit(unit);
            }
            defined
        }
    }

    /// The address of symbol `name`, linking the object on first use.
    fn lookup(&self, name: &str) -> Result<u64, String> {
        let name = CString::new(name).map_err(|err| err.to_string())?;
        let mut address = 0;
        // SAFETY: the JIT is live and `address` an out-parameter.
        check(unsafe { LLVMOrcLLJITLookup(self.0, &mut address, name.as_ptr()) })?;
        Ok(address)
    }
}

impl Drop for ObjectJit {
    fn drop(&mut self) {
        // SAFETY: the JIT is owned by `self` and disposed once; an error is consumed.
        let _ = check(unsafe { LLVMOrcDisposeLLJIT(self.0) });
    }
}

/// compiler-rt's `__truncsfbf2`: `x` rounded to bf16 (to nearest, ties to even, NaNs kept
/// NaN), returned as the libcall returns a bf16, in the low 16 bits of the float register.
extern "C" fn truncsfbf2(x: f32) -> f32 {
    f32::from_bits(u32::from(half::bf16::from_f32(x).to_bits()))
}

/// compiler-rt's `__truncdfbf2`: [`truncsfbf2`] from an f64, rounded once.
extern "C" fn truncdfbf2(x: f64) -> f32 {
    f32::from_bits(u32::from(half::bf16::from_f64(x).to_bits()))
}

/// `Err` with LLVM's message for a failure, consuming the error.
fn check(error: LLVMErrorRef) -> Result<(), String> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null error is ours; its message is copied, then disposed.
    unsafe {
        let message = LLVMGetErrorMessage(error);
        let owned = CStr::from_ptr(message).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(message);
        Err(owned)
    }
}
