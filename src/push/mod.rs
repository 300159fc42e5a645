//! Partner mirror sync: the push plan, the `https` receiver protocol and the
//! `rsync` method.
pub mod receive;
