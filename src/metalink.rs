//! MirrorManager-format metalink documents (see shared reference R1–R8). Pure.
