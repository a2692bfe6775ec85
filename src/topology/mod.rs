//! What this node looks like, and pinning ranks to their share of it. The only
//! module that touches hwloc (through `hwlocality`, the maintained hwloc 2.x
//! bindings; `hwloc2` has had no release since 2020).
//!
//! Pinning rule: if the launcher already bound this process to fewer cores than the
//! node allows, that binding is the rank's share (srun, `mpirun --bind-to`).
//! Otherwise the node's allowed cores are divided evenly among the node's local
//! ranks; with more ranks than cores, ranks share cores round-robin.

use crate::config::PinMode;
use hwlocality::cpu::binding::CpuBindingFlags;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::{OSDeviceType, ObjectType};
use hwlocality::topology::builder::TypeFilter;
use hwlocality::Topology;
use std::sync::OnceLock;

/// The share of the node one rank gets.
#[derive(Clone, Debug)]
pub struct Share {
    pub cores: u32,
    pub cpuset: String,
    pub memory_bytes: u64,
    pub gpus: u32,
    pub pinned: bool,
}

/// The node as a whole.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub host: String,
    pub cores: u32,
    pub pus: u32,
    pub memory_bytes: u64,
    pub gpus: u32,
    pub allowed_cpuset: String,
    pub process_cpuset: String,
}

/// The node's topology, discovered once per process: discovery (with the PCI scan
/// that finds GPUs) is the slow part of start-up.
fn topology() -> Option<&'static Topology> {
    static TOPOLOGY: OnceLock<Option<Topology>> = OnceLock::new();
    TOPOLOGY
        .get_or_init(|| {
            Topology::builder()
                .with_io_type_filter(TypeFilter::KeepImportant)
                .ok()?
                .build()
                .ok()
                .or_else(|| Topology::new().ok())
        })
        .as_ref()
}

pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let ok =
        unsafe { libc::gethostname(buffer.as_mut_ptr() as *mut libc::c_char, buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    if ok {
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        "localhost".into()
    }
}

fn count_gpus(topology: &Topology) -> u32 {
    topology
        .objects_with_type(ObjectType::OSDevice)
        .filter(|object| match object.attributes() {
            Some(ObjectAttributes::OSDevice(device)) => {
                matches!(
                    device.device_type(),
                    OSDeviceType::GPU | OSDeviceType::CoProcessor
                )
            }
            _ => false,
        })
        .count() as u32
}

fn total_memory(topology: &Topology) -> u64 {
    topology.root_object().total_memory()
}

fn process_binding(topology: &Topology) -> Option<CpuSet> {
    topology.cpu_binding(CpuBindingFlags::PROCESS).ok()
}

pub fn node_info() -> NodeInfo {
    let host = hostname();
    let Some(topology) = topology() else {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        return NodeInfo {
            host,
            cores,
            pus: cores,
            memory_bytes: 0,
            gpus: 0,
            allowed_cpuset: String::new(),
            process_cpuset: String::new(),
        };
    };
    let allowed = topology.allowed_cpuset().clone_target();
    let process = process_binding(topology).unwrap_or_else(|| allowed.clone());
    NodeInfo {
        host,
        cores: cores_in(topology, &allowed).len() as u32,
        pus: allowed.weight().unwrap_or(0) as u32,
        memory_bytes: total_memory(topology),
        gpus: count_gpus(topology),
        allowed_cpuset: format!("{allowed}"),
        process_cpuset: format!("{process}"),
    }
}

/// Cores (as cpusets) that intersect `set`, in hwloc order.
fn cores_in(topology: &Topology, set: &CpuSet) -> Vec<CpuSet> {
    let cores: Vec<CpuSet> = topology
        .objects_with_type(ObjectType::Core)
        .filter_map(|core| core.cpuset().map(|c| c.clone_target() & set))
        .filter(|core| !core.is_empty())
        .collect();
    if cores.is_empty() {
        // Some virtual machines expose no Core level: fall back to PUs.
        return set.iter_set().map(CpuSet::from).collect();
    }
    cores
}

/// The cores the local rank `local_rank` of `local_size` gets under `mode`.
pub fn plan_share(local_rank: u32, local_size: u32, mode: PinMode) -> Option<(CpuSet, u32)> {
    let topology = topology()?;
    let allowed = topology.allowed_cpuset().clone_target();
    let current = process_binding(topology).unwrap_or_else(|| allowed.clone());
    if mode == PinMode::None {
        return Some((
            current.clone(),
            cores_in(topology, &current).len().max(1) as u32,
        ));
    }
    if current != allowed && !current.is_empty() {
        // The launcher bound us: its choice is our share.
        return Some((
            current.clone(),
            cores_in(topology, &current).len().max(1) as u32,
        ));
    }
    let cores = cores_in(topology, &allowed);
    if cores.is_empty() {
        return None;
    }
    let (start, count) = split(cores.len() as u32, local_rank, local_size, mode);
    let mut set = CpuSet::new();
    for core in &cores[start as usize..(start + count) as usize] {
        set |= core;
    }
    Some((set, count))
}

/// Splits `cores` among `ranks`; returns (first core, cores) for `rank`.
fn split(cores: u32, rank: u32, ranks: u32, mode: PinMode) -> (u32, u32) {
    let ranks = ranks.max(1);
    if ranks >= cores || mode == PinMode::Core {
        return (rank % cores, 1);
    }
    let base = cores / ranks;
    let extra = cores % ranks;
    let start = rank * base + rank.min(extra);
    (start, base + u32::from(rank < extra))
}

/// Pins this process to its share and reports it.
pub fn pin(local_rank: u32, local_size: u32, mode: PinMode) -> Share {
    let node = node_info();
    let memory_bytes = node.memory_bytes / u64::from(local_size.max(1));
    let gpus = node.gpus / local_size.max(1);
    let unpinned = Share {
        cores: node.cores.max(1),
        cpuset: String::new(),
        memory_bytes,
        gpus,
        pinned: false,
    };
    let (Some(topology), Some((set, cores))) =
        (topology(), plan_share(local_rank, local_size, mode))
    else {
        return unpinned;
    };
    let pinned = mode != PinMode::None && topology.bind_cpu(&set, CpuBindingFlags::PROCESS).is_ok();
    Share {
        cores,
        cpuset: format!("{set}"),
        memory_bytes,
        gpus,
        pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_split_evenly_with_the_remainder_first() {
        let shares: Vec<_> = (0..3)
            .map(|rank| split(8, rank, 3, PinMode::Auto))
            .collect();
        assert_eq!(shares, vec![(0, 3), (3, 3), (6, 2)]);
    }

    #[test]
    fn more_ranks_than_cores_share_round_robin() {
        let shares: Vec<_> = (0..4)
            .map(|rank| split(2, rank, 4, PinMode::Auto))
            .collect();
        assert_eq!(shares, vec![(0, 1), (1, 1), (0, 1), (1, 1)]);
    }
}
