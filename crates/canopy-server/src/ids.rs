//! Public ids, defined in the core (see [`canopy_core::ids`]).

pub use canopy_core::ids::*;
