//! faultline's workloads: clients for each target system and the
//! generators that drive them. Built on `checkers` for the history types.
