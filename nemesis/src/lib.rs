//! faultline's nemesis: fault injection (signals, partitions, packet
//! faults) and the guarantee that every fault is healed.
