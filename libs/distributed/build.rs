//! Compiles the MPI shim when Open MPI's compiler wrapper is on PATH (setup installs it): `mpicc
//! --showme` says where mpi.h and libmpi are. Without it the addon still builds, with the shared-memory
//! transport only, and asking for 'mpi' says how to get it.
use std::process::Command;

fn showme(what: &str) -> Option<Vec<String>> {
    let out = Command::new("mpicc").arg(format!("--showme:{what}")).output().ok()?;
    if !out.status.success() { return None; }
    Some(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect())
}

fn main() {
    napi_build::setup();
    println!("cargo::rustc-check-cfg=cfg(tessera_mpi)");
    println!("cargo:rerun-if-changed=rust/mpi_shim.c");
    println!("cargo:rerun-if-env-changed=PATH");
    let (Some(compile), Some(link)) = (showme("compile"), showme("link")) else {
        println!("cargo:warning=mpicc not found: building without the 'mpi' transport");
        return;
    };
    let mut build = cc::Build::new();
    build.file("rust/mpi_shim.c").warnings(true);
    for flag in &compile { build.flag(flag); }
    build.compile("tessera_mpi_shim");
    for flag in &link {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    println!("cargo:rustc-cfg=tessera_mpi");
}
